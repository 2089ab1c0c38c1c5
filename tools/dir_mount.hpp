// DirMount: `torfs mount DIR MOUNTPOINT`. Keeps the torrents of a multi-mode TorrentFs in step
// with a directory of .torrent files and .magnet files (text whose first non-empty line is a
// magnet: URI): everything there at scan() is added, then an inotify watcher adds files
// dropped in (closed after writing, or moved in) and removes the torrents of files deleted or
// moved out. A removed torrent leaves the mount at once and the session once its last reader
// closed. Magnets fetch their metadata on background threads and appear when it arrived.
// A file that cannot be used is logged (naming it) and skipped; nothing here ends the mount.
//
// Thread safety: scan(), start_watching() and stop() are for the owning thread; list() and
// the internals run on any thread (one mutex guards the file table).
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/result.hpp"
#include "engine/session.hpp"
#include "fs/torrent_fs.hpp"
#include "tools/mounted_torrents.hpp"

namespace torfs::tools {

struct DirMountConfig {
  std::filesystem::path dir;        // the watched directory (absolute)
  std::filesystem::path data_base;  // each torrent's data goes to data_base / <info-hash>
  TorrentConfig torrent;            // on_demand, trackers, peers (data_dir is set per torrent)
  MetadataRequest metadata;         // for magnets (peers, trackers, DHT, timeout)
  std::function<void(LogLevel, const std::string&)> log;
};

class DirMount {
 public:
  // `session` (started) and `fs` (multi mode) must outlive the DirMount.
  DirMount(Session& session, fs::TorrentFs& fs, DirMountConfig config);
  ~DirMount();  // stop()
  DirMount(const DirMount&) = delete;
  DirMount& operator=(const DirMount&) = delete;

  // Adds every file in the directory now (sorted by file name, so collision suffixes are
  // deterministic); magnets only start fetching. Returns how many torrents were added.
  std::size_t scan();
  // Starts the inotify watcher. Fails if the directory cannot be watched.
  Result<void> start_watching();
  // Ends the watcher; from now on nothing is added or removed. Idempotent.
  void stop_watching();
  // stop_watching(), then waits for magnet fetches (call after Session::stop(), which ends
  // them at once; otherwise this waits up to the metadata timeout). Idempotent.
  void stop();

  // Magnets still fetching metadata.
  std::size_t pending() const;

 private:
  struct Entry {
    Sha1Hash info_hash{};
    std::string name;  // visible in the mount; empty while a magnet is fetching
    std::shared_ptr<Torrent> torrent;
    std::uint64_t generation = 0;  // tells a fetch whose file was replaced or removed
  };
  void file_changed(const std::string& file);
  void file_removed(const std::string& file);
  // Adds the torrent of `file` to the session and the mount, unless the file changed since
  // (`generation`). The caller holds mutex_.
  void add_locked(const std::string& file, Metainfo meta, bool store_metainfo,
                  std::uint64_t generation);
  void fetch_magnet(const std::string& file, Magnet magnet, std::uint64_t generation);
  // Takes `file` out of the table and the mount; the caller holds mutex_.
  void drop_locked(const std::string& file);
  bool duplicate_locked(const Sha1Hash& hash, const std::string& file) const;
  void watch_loop(int inotify_fd);
  void say(LogLevel level, const std::string& message) const;

  Session& session_;
  fs::TorrentFs& fs_;
  DirMountConfig config_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> files_;  // by file name in the directory
  std::set<std::string> rejected_;      // skipped files, not retried by scan() until changed
  std::uint64_t next_generation_ = 1;
  std::size_t fetching_ = 0;
  bool stopping_ = false;
  // Magnet metadata fetches; finished ones are joined when the next one starts.
  struct Fetcher {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Fetcher> fetchers_;
  std::thread watcher_;
  int wake_fd_ = -1;  // eventfd that ends the watcher
};

// Snapshot of what `fs` serves, in either mode (for the control channel).
TorrentLister make_torrent_lister(const fs::TorrentFs& fs);

}  // namespace torfs::tools
