// Shared by `torfs download` and `torfs mount`: magnet sources and the DHT options.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "engine/magnet.hpp"
#include "engine/session.hpp"

namespace torfs::tools {

struct PeerDiscoveryArgs {
  bool no_dht = false;
  bool no_lsd = false;
  std::vector<std::string> dht_bootstrap;  // HOST:PORT
  double metadata_timeout = 120;           // seconds
};

// --no-dht, --no-lsd, --dht-bootstrap, --metadata-timeout.
void add_peer_discovery_options(CLI::App* cmd, PeerDiscoveryArgs& args);
void apply_peer_discovery(const PeerDiscoveryArgs& args, SessionConfig& config);

// The magnet when `source` is a magnet URI; fail()s (exit 2) on a malformed one or a bad
// --metadata-timeout.
std::optional<Magnet> magnet_source(const std::string& source, const PeerDiscoveryArgs& args);

// Loads a .torrent given as a file path or as an http(s) URL; fail()s with exit 2 (naming
// the file or URL) when it is unusable.
Metainfo load_torrent_source(const std::string& source);

// Session::fetch_metadata with the CLI's options; `say` gets "fetching metadata from N
// peers..." lines whenever the numbers change. Errors name the magnet and what went wrong.
// The caller must have SIGINT, SIGTERM and SIGHUP blocked: they are taken while waiting, stop
// the session and end the fetch with std::errc::interrupted.
Result<Metainfo> fetch_magnet_metadata(Session& session, const Magnet& magnet,
                                       const std::vector<std::string>& peers, bool use_trackers,
                                       const PeerDiscoveryArgs& args,
                                       std::function<void(const std::string&)> say);

}  // namespace torfs::tools
