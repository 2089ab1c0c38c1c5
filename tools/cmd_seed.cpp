// torfs seed FILE.torrent -d DATA_DIR [--partial] [--listen ADDR:PORT] [--peer ADDR:PORT]...
//            [--state-db PATH] [--no-trackers] [--max-upload-rate KiB/s]
//            [--max-download-rate KiB/s] [--status-interval SECONDS]
// Serves existing data to the swarm until SIGINT/SIGTERM. The data is checked first: pieces
// recorded in SQLite are trusted while their files are unchanged (size and mtime), anything
// else is re-hashed on all cores. Without --partial, missing or corrupt data is an error and
// nothing is announced; with it, the verified pieces are served. Never downloads.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "tools/command.hpp"
#include "tools/progress.hpp"
#include "tools/session_options.hpp"

namespace torfs::tools {
namespace {

struct SeedArgs {
  std::string torrent;
  std::string data_dir;
  bool partial = false;
  SessionArgs session;
  double status_interval = 5.0;
};

std::string status_extra(const TorrentStats& s) {
  return peer_piece_summary(s, "uploaded", s.uploaded);
}

void run(const SeedArgs& args) {
  auto meta = load_metainfo_file(args.torrent);
  if (!meta) fail(args.torrent + ": " + meta.error().message, 2);
  std::error_code ec;
  if (!std::filesystem::is_directory(args.data_dir, ec)) {
    fail(args.data_dir + ": not a directory (the data to seed must already exist)", 1);
  }
  sigset_t signals = block_stop_signals();

  SessionConfig config = session_config(args.session);
  config.log = stderr_log(args.session.verbose);
  Session session(config);
  if (auto r = session.start(); !r) fail(r.error().message, 1);

  TorrentConfig tconfig = torrent_config(args.session);
  tconfig.data_dir = args.data_dir;
  tconfig.on_demand = true;  // every piece at priority none: a seeder never fetches
  tconfig.seed = true;
  tconfig.require_complete = !args.partial;
  const std::string name = meta->name;
  auto added = session.add_torrent(std::move(*meta), tconfig);
  if (!added) {
    fail("cannot seed " + args.torrent + " from " + args.data_dir + ": " + added.error().message +
             (args.partial ? "" : " (use --partial to seed the verified pieces only)"),
         1);
  }
  std::shared_ptr<Torrent> torrent = *added;
  std::mutex error_mutex;
  std::string storage_error;
  torrent->on_error([&](const Error& e) {
    std::lock_guard lock(error_mutex);
    storage_error = e.message;
  });

  const TorrentStats initial = torrent->stats();
  if (initial.pieces_have == 0) {
    session.stop();
    fail("no verified piece of " + name + " under " + args.data_dir + ": nothing to seed", 1);
  }
  std::fprintf(stderr, "torfs: seeding %s (%u/%u pieces) on port %u until interrupted\n",
               name.c_str(), initial.pieces_have, initial.pieces_total, session.listen_port());

  const auto started = std::chrono::steady_clock::now();
  Progress::Options popts;
  popts.label = "uploaded";
  popts.plain_interval_seconds = args.status_interval;
  Progress progress(0, popts);
  for (;;) {
    timespec wait{0, 100'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) break;
    const TorrentStats s = torrent->stats();
    progress.update(s.uploaded, status_extra(s));
    std::lock_guard lock(error_mutex);
    if (!storage_error.empty()) break;
  }
  const TorrentStats last = torrent->stats();
  progress.finish(status_extra(last));
  session.stop();  // `stopped` announces, completion and transfer totals flushed to SQLite

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr, "torfs: %s: uploaded %llu bytes in %.1f s\n", name.c_str(),
               static_cast<unsigned long long>(last.uploaded), seconds);
  std::lock_guard lock(error_mutex);
  if (!storage_error.empty()) fail("storage error: " + storage_error, 1);
}

void setup(CLI::App& app) {
  auto args = std::make_shared<SeedArgs>();
  auto* cmd = app.add_subcommand("seed", "Seed existing data of a torrent until interrupted");
  cmd->add_option("torrent", args->torrent, "The .torrent file")->required();
  cmd->add_option("-d,--dir", args->data_dir, "Directory holding the torrent's files")->required();
  cmd->add_flag("--partial", args->partial,
                "Seed the verified pieces even when some data is missing or corrupt");
  add_session_options(cmd, args->session);
  cmd->add_option("--status-interval", args->status_interval,
                  "Seconds between status lines when stderr is not a terminal")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->footer(
      "The data is checked first (SQLite completion is trusted for unchanged files, the rest is "
      "re-hashed on all cores). Exit status: 0 after SIGINT/SIGTERM, 1 when the data is "
      "missing or corrupt (without --partial) or on errors, 2 for an unreadable torrent.");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(50, setup);

}  // namespace
}  // namespace torfs::tools
