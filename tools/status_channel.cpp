#include "tools/status_channel.hpp"

#include <unistd.h>

#include <ctime>

#include "tools/status_report.hpp"

namespace torfs::tools {

std::unique_ptr<ControlServer> start_status_channel(
    const std::filesystem::path& mountpoint, TorrentLister lister, std::uint16_t listen_port,
    const std::function<void(const std::string&)>& warn) {
  MountInfo info;
  info.mountpoint = mountpoint.string();
  info.pid = ::getpid();
  info.listen_port = listen_port;
  info.started = static_cast<std::int64_t>(std::time(nullptr));
  auto server = ControlServer::start(mountpoint, [lister = std::move(lister), info] {
    return status_to_json(build_mount_status(lister(), info));
  });
  if (!server) {
    warn("`torfs status` will not see this mount: " + server.error().message);
    return nullptr;
  }
  return std::move(*server);
}

}  // namespace torfs::tools
