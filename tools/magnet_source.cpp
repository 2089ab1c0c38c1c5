#include "tools/magnet_source.hpp"

#include <signal.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>

#include "tools/command.hpp"

namespace torfs::tools {

void add_peer_discovery_options(CLI::App* cmd, PeerDiscoveryArgs& args) {
  cmd->add_flag("--no-dht", args.no_dht, "Do not use the mainline DHT to find peers");
  cmd->add_flag("--no-lsd", args.no_lsd,
                "Do not announce or look for peers on the local network (BEP 14)");
  cmd->add_option("--dht-bootstrap", args.dht_bootstrap,
                  "DHT entry point (HOST:PORT), repeatable (default: the public routers)");
  cmd->add_option("--metadata-timeout", args.metadata_timeout,
                  "Seconds to wait for a magnet's metadata from peers")
      ->capture_default_str();
}

void apply_peer_discovery(const PeerDiscoveryArgs& args, SessionConfig& config) {
  config.dht_enabled = !args.no_dht;
  config.dht_bootstrap = args.dht_bootstrap;
  config.lsd_enabled = !args.no_lsd;
}

std::optional<Magnet> magnet_source(const std::string& source, const PeerDiscoveryArgs& args) {
  if (source.rfind("magnet:", 0) != 0) return std::nullopt;
  if (!(args.metadata_timeout > 0)) fail("--metadata-timeout must be a positive number", 2);
  auto magnet = parse_magnet(source);
  if (!magnet) fail("bad magnet link: " + magnet.error().message, 2);
  return *magnet;
}

Metainfo load_torrent_source(const std::string& source) {
  const bool url = source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0;
  auto meta = url ? fetch_metainfo_url(source) : load_metainfo_file(source);
  if (!meta) fail(meta.error().message, 2);  // both name the file or the URL's host
  return std::move(*meta);
}

Result<Metainfo> fetch_magnet_metadata(Session& session, const Magnet& magnet,
                                       const std::vector<std::string>& peers, bool use_trackers,
                                       const PeerDiscoveryArgs& args,
                                       std::function<void(const std::string&)> say) {
  MetadataRequest request;
  request.peers = peers;
  request.use_trackers = use_trackers;
  request.use_dht = !args.no_dht;
  request.timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(args.metadata_timeout * 1000));
  const std::string name =
      magnet.display_name.empty() ? to_hex(magnet.info_hash) : magnet.display_name;
  auto last = std::make_shared<std::pair<std::size_t, std::size_t>>(~std::size_t{0}, 0);
  request.progress = [say, last, name](std::size_t connected, std::size_t known) {
    if (*last == std::make_pair(connected, known)) return;
    *last = {connected, known};
    say("fetching metadata of " + name + " from " + std::to_string(connected) + " peers (" +
        std::to_string(known) + " known)...");
  };
  say("fetching metadata of " + name + "...");
  // The fetch blocks; this thread keeps taking the (blocked) termination signals meanwhile, so
  // an interrupt stops the session, which ends the fetch at once.
  auto pending = std::async(std::launch::async, [&session, &magnet, request] {
    return session.fetch_metadata(magnet, request);
  });
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    sigaddset(&signals, sig);
  bool interrupted = false;
  while (pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    timespec wait{0, 100'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      interrupted = true;
      session.stop();
    }
  }
  auto meta = pending.get();
  if (interrupted)
    return make_error(std::errc::interrupted, "interrupted while fetching the metadata of " + name);
  if (!meta) {
    Error error = meta.error();
    error.message = "cannot get the metadata of " + name + ": " + error.message;
    return error;
  }
  return meta;
}

}  // namespace torfs::tools
