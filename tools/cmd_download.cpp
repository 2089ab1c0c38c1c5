// torfs download FILE.torrent -d DIR [--seed] [--peer ADDR:PORT]... [--listen ADDR:PORT]
//                [--state-db PATH] [--no-trackers] [--max-upload-rate KiB/s]
//                [--max-download-rate KiB/s]
// Downloads a torrent with the engine, shows progress, exits 0 once every piece is verified
// (or keeps seeding with --seed until SIGINT/SIGTERM). Interrupting is clean: completion is
// committed to SQLite, so a rerun resumes.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "tools/command.hpp"
#include "tools/magnet_source.hpp"
#include "tools/progress.hpp"
#include "tools/session_options.hpp"

namespace torfs::tools {
namespace {

struct DownloadArgs {
  std::string torrent;
  std::string data_dir;
  bool seed = false;
  SessionArgs session;
  PeerDiscoveryArgs discovery;
};

std::string status_extra(const TorrentStats& s) {
  return peer_piece_summary(s, "up", s.uploaded);
}

void run(const DownloadArgs& args) {
  const std::optional<Magnet> magnet = magnet_source(args.torrent, args.discovery);
  Result<Metainfo> meta = make_error(std::errc::invalid_argument, "no metainfo yet");
  if (!magnet) {
    meta = load_torrent_source(args.torrent);
  }

  sigset_t signals = block_stop_signals();  // taken by sigtimedwait below

  SessionConfig config = session_config(args.session);
  apply_peer_discovery(args.discovery, config);
  config.log = stderr_log(args.session.verbose);
  Session session(config);
  if (auto r = session.start(); !r) fail(r.error().message, 1);
  if (magnet) {
    meta = fetch_magnet_metadata(
        session, *magnet, args.session.peers, !args.session.no_trackers, args.discovery,
        [](const std::string& line) { std::fprintf(stderr, "torfs: %s\n", line.c_str()); });
    if (!meta && meta.error().code == std::errc::interrupted) fail(meta.error().message, 130);
    if (!meta) fail(meta.error().message, 1);
  }

  TorrentConfig tconfig = torrent_config(args.session);
  tconfig.data_dir = args.data_dir;
  tconfig.seed = args.seed;
  tconfig.store_metainfo = magnet.has_value();
  const std::string name = meta->name;
  const std::uint64_t total = meta->layout.total_size();
  auto added = session.add_torrent(std::move(*meta), tconfig);
  if (!added) fail("cannot add " + args.torrent + ": " + added.error().message, 1);
  std::shared_ptr<Torrent> torrent = *added;

  std::atomic<bool> complete{false};
  std::mutex error_mutex;
  std::string storage_error;
  torrent->on_complete([&complete] { complete = true; });
  torrent->on_error([&](const Error& e) {
    std::lock_guard lock(error_mutex);
    storage_error = e.message;
  });

  const TorrentStats initial = torrent->stats();
  const auto started = std::chrono::steady_clock::now();
  Progress progress(total, std::string(args.seed ? "torrent" : "downloading"));
  bool interrupted = false;
  bool announced_seeding = false;
  for (;;) {
    timespec wait{0, 100'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      interrupted = true;
      break;
    }
    const TorrentStats s = torrent->stats();
    progress.update(s.have_bytes, status_extra(s));
    {
      std::lock_guard lock(error_mutex);
      if (!storage_error.empty()) break;
    }
    if (complete && !args.seed) break;
    if (complete && !announced_seeding) {
      announced_seeding = true;
      std::fprintf(stderr, "\ntorfs: %s complete; seeding on port %u until interrupted\n",
                   name.c_str(), session.listen_port());
    }
  }
  const TorrentStats last = torrent->stats();
  progress.finish(status_extra(last));
  session.stop();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr,
               "torfs: %s: %u/%u pieces verified (%u at start); downloaded %llu bytes, uploaded "
               "%llu bytes in %.1f s\n",
               name.c_str(), last.pieces_have, last.pieces_total, initial.pieces_have,
               static_cast<unsigned long long>(last.downloaded),
               static_cast<unsigned long long>(last.uploaded), seconds);
  {
    std::lock_guard lock(error_mutex);
    if (!storage_error.empty()) fail("storage error: " + storage_error, 1);
  }
  if (complete) return;
  fail(interrupted ? "interrupted; run the same command again to resume" : "download incomplete",
       interrupted ? 130 : 1);
}

void setup(CLI::App& app) {
  auto args = std::make_shared<DownloadArgs>();
  auto* cmd = app.add_subcommand("download", "Download a torrent to a directory");
  cmd->add_option("torrent", args->torrent, "The .torrent file, its http(s) URL, or a magnet: link")
      ->required();
  cmd->add_option("-d,--dir", args->data_dir, "Directory the torrent's files go to")->required();
  cmd->add_flag("--seed", args->seed, "Keep seeding after the download until interrupted");
  add_session_options(cmd, args->session);
  add_peer_discovery_options(cmd, args->discovery);
  cmd->footer(
      "Exit status: 0 when every piece is verified, 1 on errors, 2 for an unreadable torrent, "
      "130 when interrupted (a rerun resumes).");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(40, setup);

}  // namespace
}  // namespace torfs::tools
