#include "tools/session_options.hpp"

#include <pthread.h>

#include "tools/progress.hpp"

namespace torfs::tools {

void add_session_options(CLI::App* cmd, SessionArgs& args) {
  cmd->add_option("--peer", args.peers, "Connect to this peer directly (ADDR:PORT), repeatable");
  cmd->add_option("--listen", args.listen, "Address for incoming peers (ADDR:PORT, port 0 = any)")
      ->capture_default_str();
  cmd->add_option("--state-db", args.state_db,
                  "SQLite completion database (default $XDG_DATA_HOME/torfs/torfs.db)");
  add_rate_options(cmd, args.rates);
  cmd->add_flag("--no-trackers", args.no_trackers, "Do not announce to the torrent's trackers");
  cmd->add_flag("--no-web-seeds", args.no_web_seeds,
                "Do not download from the torrent's web seeds (url-list, BEP 19)");
  cmd->add_option("--encryption", args.encryption,
                  "Protocol encryption (MSE/PE) with peers: plaintext (connect plain, accept "
                  "both), prefer (connect with RC4, accept both), require (RC4 only)")
      ->check(CLI::IsMember({"plaintext", "prefer", "require"}))
      ->capture_default_str();
  cmd->add_flag("-v,--verbose", args.verbose, "Log peer connections and other details");
}

EncryptionPolicy encryption_policy(const std::string& name) {
  if (name == "require") return EncryptionPolicy::require_rc4;
  if (name == "prefer") return EncryptionPolicy::prefer_rc4;
  return EncryptionPolicy::prefer_plaintext;
}

SessionConfig session_config(const SessionArgs& args) {
  SessionConfig config;
  config.listen = args.listen;
  config.state_db = args.state_db;
  config.encryption = encryption_policy(args.encryption);
  apply_rate_options(args.rates, config);
  return config;
}

TorrentConfig torrent_config(const SessionArgs& args) {
  TorrentConfig config;
  config.use_trackers = !args.no_trackers;
  config.use_web_seeds = !args.no_web_seeds;
  config.peers = args.peers;
  return config;
}

std::string peer_piece_summary(const TorrentStats& s, const char* what, std::uint64_t bytes) {
  return std::to_string(s.peers) + " peers, " + std::to_string(s.pieces_have) + "/" +
         std::to_string(s.pieces_total) + " pieces, " + what + " " + format_bytes(bytes);
}

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace torfs::tools
