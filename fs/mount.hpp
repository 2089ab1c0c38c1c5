// FuseMount: one mounted TorrentFs. Creates the FUSE session, mounts it, runs the
// multi-threaded session loop, and tears everything down so that no read is left hanging and
// no dead mount is left behind.
//
// Ways a mount ends, and what happens:
//  - `fusermount3 -u` / `umount`: the kernel ends the connection, run() returns.
//  - lazy unmount (`fusermount3 -uz`, `umount -l`) while files are open: a watcher notices the
//    mount is gone from /proc/self/mountinfo and answers every parked read with EIO at once
//    (instead of at its deadline); the loop ends when the last file is closed.
//  - stop() (SIGINT/SIGTERM/SIGHUP with handle_signals, or any thread): parked reads get EIO,
//    the mount is detached, the loop is told to exit and run() returns even if some process
//    still holds a file open (that process then sees ENOTCONN).
// In every case run() finishes with TorrentFs::shutdown(), so no parked read survives it.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/result.hpp"
#include "fs/fuse_api.hpp"
#include "fs/torrent_fs.hpp"

namespace torfs::fs {

struct MountOptions {
  std::filesystem::path mountpoint;
  // Extra mount options as given to `-o` (comma-separated lists allowed), e.g. "allow_other".
  std::vector<std::string> fuse_options;
  std::string fsname = "torfs";  // the "device" column of mount/df
  bool debug = false;            // libfuse request tracing to stderr
  unsigned max_threads = 32;
  // Kernel readahead for this mount (KiB), set through /sys/class/bdi once the connection is
  // up: the kernel's default of 128 KiB would cap buffered reads at 128 KiB requests. Needs
  // root; silently left alone otherwise. 0 = keep the kernel default. Not 1024: a 1 MiB
  // request plus its reply header no longer fits libfuse's splice pipe (capped by
  // fs.pipe-max-size, 1 MiB), so libfuse falls back to copying and warm reads drop from ~5 to
  // ~2 GB/s here; 512 KiB splices and measured fastest (see docs/benchmarks.md).
  unsigned read_ahead_kb = 512;
  // Turn SIGINT/SIGTERM/SIGHUP into stop() while run() is running. The signals must already
  // be blocked in every thread (call block_termination_signals() before starting any thread).
  bool handle_signals = false;
};

class FuseMount {
 public:
  // Creates the session and mounts it read-only. `fs` must outlive the FuseMount. Fails with
  // a message naming the mountpoint and the cause (bad option, not permitted, ...).
  static Result<std::unique_ptr<FuseMount>> mount(TorrentFs& fs, const MountOptions& options);
  // Unmounts if still mounted and destroys the session. run() must have returned.
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Serves requests until the mount ends (see above), then answers every parked read.
  // Call once. Fails if the loop itself failed.
  Result<void> run();
  // Ends the mount from any thread (not from a signal handler). Idempotent.
  void stop();

  const std::filesystem::path& mountpoint() const { return mountpoint_; }

  // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and threads created after).
  static void block_termination_signals();

 private:
  FuseMount(TorrentFs& fs, fuse_session* se, std::filesystem::path mountpoint,
            std::optional<std::string> device, bool handle_signals);
  void watch_loop();
  void signal_loop();
  void detach();
  void disconnect();
  void tune_readahead();

  TorrentFs& fs_;
  fuse_session* se_;
  std::filesystem::path mountpoint_;
  std::optional<std::string> device_;  // "major:minor" of our mount in /proc/self/mountinfo
  bool handle_signals_;
  unsigned max_threads_ = 32;
  unsigned read_ahead_kb_ = 0;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_requested_ = false;
  bool detached_ = false;
  bool in_loop_ = false;
  bool loop_done_ = false;
  pthread_t loop_thread_{};
  std::atomic<bool> signal_exit_{false};
};

}  // namespace torfs::fs
