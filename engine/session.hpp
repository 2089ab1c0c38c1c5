// Session: the BitTorrent engine. One engine thread (a Boost.Asio io_context) owns all state of
// all torrents and peers; a small worker pool hashes and does disk I/O and posts results back.
// This header keeps Boost.Asio out (pimpl) so fs/ and tools/ compile quickly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "engine/metainfo.hpp"
#include "engine/torrent_view.hpp"

namespace torfs {

// Severity of an engine log line (see SessionConfig::log).
enum class LogLevel : std::uint8_t { debug, info, warning, error };

struct SessionConfig {
  std::string listen = "0.0.0.0:0";  // ADDR:PORT for incoming peers; port 0 = any free port
  std::uint64_t max_upload_rate = 0;    // bytes/s shared by all peers; 0 = unlimited
  std::uint64_t max_download_rate = 0;  // bytes/s shared by all peers; 0 = unlimited
  // SQLite completion store; empty = $XDG_DATA_HOME/torfs/torfs.db (~/.local/share/...).
  std::filesystem::path state_db;
  unsigned worker_threads = 0;  // hashing + disk I/O; 0 = number of cores
  // Engine log lines. Called from the engine thread and disk workers, one call at a time;
  // must not block for long. Empty: warnings and errors go to stderr.
  std::function<void(LogLevel, std::string_view)> log;
  // Peers per torrent (outgoing + incoming).
  std::uint32_t max_peers_per_torrent = 50;
};

struct TorrentConfig {
  std::filesystem::path data_dir;  // the torrent's files live at data_dir / FileEntry::path
  bool on_demand = false;          // fetch only what readers ask for (+ their readahead)
  bool seed = true;                // keep serving peers once complete
  bool use_trackers = true;
  std::vector<std::string> peers;  // "ADDR:PORT" peers to connect to directly
};

class Torrent : public TorrentView {
 public:
  virtual bool is_complete() const = 0;
  // Called on the engine thread once every piece is verified (immediately if already so).
  virtual void on_complete(std::function<void()> callback) = 0;
  // Called on the engine thread for a fatal storage problem (disk full, unwritable dir...).
  virtual void on_error(std::function<void(const Error&)> callback) = 0;
};

class Session {
 public:
  explicit Session(SessionConfig config);
  ~Session();  // stop(), then joins the engine thread
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the engine thread and the listener. Fails if the listen address is unusable.
  Result<void> start();
  // Adds a torrent: opens/creates its data files under config.data_dir, loads completion from
  // SQLite (re-verifying files changed behind our back), then downloads and/or seeds.
  Result<std::shared_ptr<Torrent>> add_torrent(Metainfo metainfo, TorrentConfig config);
  void remove_torrent(const std::shared_ptr<Torrent>& torrent);
  // Port actually listened on (after start()).
  std::uint16_t listen_port() const;
  // Graceful stop: sends `stopped` announces (bounded time), answers every pending
  // wait_for_range with io_error, closes peers, flushes completion to SQLite. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torfs
