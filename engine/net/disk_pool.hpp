// DiskPool: worker threads for the blocking work of the engine (SHA-1 of pieces, pwrite and
// pread through DataStore, fdatasync + SQLite commits). The engine thread never blocks on disk:
// it posts a job here and the job posts its result back to the engine's io_context.
//
// Jobs run in FIFO order across the workers (no ordering between two jobs running at once).
// Thread safety: post() may be called from any thread. stop() finishes the queued jobs, then
// joins the workers; jobs posted after stop() are run inline on the caller's thread so no
// completion is ever lost.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace torfs {

class DiskPool {
 public:
  explicit DiskPool(unsigned threads);
  ~DiskPool();  // stop()
  DiskPool(const DiskPool&) = delete;
  DiskPool& operator=(const DiskPool&) = delete;

  void post(std::function<void()> job);
  void stop();
  std::size_t queued() const;

 private:
  void run();

  std::mutex join_mutex_;  // serializes stop() callers
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace torfs
