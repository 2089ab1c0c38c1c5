// The mount's side of `torfs status` in one call: a ControlServer whose answers are the status
// documents of the torrents a TorrentLister returns.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "tools/control_server.hpp"
#include "tools/mounted_torrents.hpp"

namespace torfs::tools {

// Starts the control channel for `mountpoint` (canonical). Returns null, after logging why
// through `warn`, when it cannot be started: a mount without status is still a mount. The
// lister is called on the server's thread for every request. The caller keeps the returned
// server until the mount ends (destroying it stops the thread and removes the socket).
std::unique_ptr<ControlServer> start_status_channel(
    const std::filesystem::path& mountpoint, TorrentLister lister, std::uint16_t listen_port,
    const std::function<void(const std::string&)>& warn);

}  // namespace torfs::tools
