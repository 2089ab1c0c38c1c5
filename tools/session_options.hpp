// Options every engine-running command shares (download, seed, mount): where to listen, the
// completion database, direct peers, trackers on/off, rate limits, verbosity; and the
// synchronous stop-signal handling of the foreground commands.
#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/session.hpp"
#include "tools/rate_options.hpp"

namespace torfs::tools {

struct SessionArgs {
  std::string listen = "0.0.0.0:0";
  std::string state_db;
  std::vector<std::string> peers;
  bool no_trackers = false;
  bool no_web_seeds = false;
  bool verbose = false;
  std::string encryption = "plaintext";  // --encryption: plaintext | prefer | require
  RateArgs rates;
};

// --peer, --listen, --state-db, --max-upload-rate, --max-download-rate, --no-trackers,
// --no-web-seeds, --encryption, -v.
void add_session_options(CLI::App* cmd, SessionArgs& args);

// --encryption's value ("plaintext", "prefer", "require"; checked by the option) as a policy.
EncryptionPolicy encryption_policy(const std::string& name);

// The SessionConfig those options describe (log sink and discovery options not included).
SessionConfig session_config(const SessionArgs& args);
// The per-torrent part: peers, trackers and web seeds on or off (data_dir etc. not set).
TorrentConfig torrent_config(const SessionArgs& args);

// "N peers, have/total pieces, <what> BYTES": the status suffix of progress lines.
std::string peer_piece_summary(const TorrentStats& s, const char* what, std::uint64_t bytes);

// Blocks SIGINT and SIGTERM in the calling thread and every thread started after it, so the
// main thread can take them synchronously with sigtimedwait. Call before the Session starts.
sigset_t block_stop_signals();

}  // namespace torfs::tools
