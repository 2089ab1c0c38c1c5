// FakeTorrentView: a TorrentView without an engine, for filesystem tests. It serves a fake
// torrent whose files are written to a temporary directory up front; pieces "arrive" (become
// verified) only when the test says so, immediately or after a delay, so the tests control
// exactly which reads are served from disk and which are parked. Deadlines are enforced by a
// timer thread unless the test asks the view to ignore them (to exercise the fs's own sweeper).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "engine/torrent_view.hpp"
#include "tests/common/test_util.hpp"

namespace torfs::testing {

// Deterministic content of the torrent byte stream.
inline std::uint8_t stream_byte(std::uint64_t offset) {
  return static_cast<std::uint8_t>((offset * 2654435761u) >> 13 ^ (offset >> 20));
}

class FakeTorrentView : public TorrentView {
 public:
  // Writes every non-pad file under `dir` (content = stream_byte of its stream offsets),
  // unless `sparse` is set: then files are only truncated to size (all zeros) and the test
  // writes what it wants with write_at().
  FakeTorrentView(std::filesystem::path dir, std::vector<FileEntry> files,
                  std::uint32_t piece_length, bool sparse = false)
      : dir_(std::move(dir)) {
    meta_.name = files.empty() ? "t" : files[0].path.substr(0, files[0].path.find('/'));
    for (int i = 0; i < 20; ++i)
      meta_.info_hash[i] = static_cast<std::uint8_t>(0xa0 + i);
    meta_.layout = FileLayout::create(std::move(files), piece_length).value();
    meta_.piece_hashes.resize(meta_.layout.num_pieces());
    meta_.creation_date = 1'700'000'000;
    have_ = std::vector<std::atomic<bool>>(meta_.layout.num_pieces());
    for (const auto& f : meta_.layout.files()) {
      if (f.pad) continue;
      const auto path = dir_ / f.path;
      std::filesystem::create_directories(path.parent_path());
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      if (sparse) {
        out.close();
        std::filesystem::resize_file(path, f.size);
        continue;
      }
      std::vector<char> buf(1 << 16);
      for (std::uint64_t done = 0; done < f.size;) {
        const std::size_t n = std::min<std::uint64_t>(buf.size(), f.size - done);
        for (std::size_t i = 0; i < n; ++i)
          buf[i] = static_cast<char>(stream_byte(f.offset + done + i));
        out.write(buf.data(), static_cast<std::streamsize>(n));
        done += n;
      }
    }
    fds_.assign(meta_.layout.num_files(), -1);
    timer_ = std::thread([this] { timer_loop(); });
  }

  ~FakeTorrentView() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    timer_.join();
    fail_all(std::make_error_code(std::errc::io_error));
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }

  void write_at(FileIndex file, std::uint64_t offset, const std::string& bytes) {
    std::fstream f(dir_ / meta_.layout.file(file).path,
                   std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // --- TorrentView ---
  const Metainfo& metainfo() const override { return meta_; }
  bool have_piece(PieceIndex piece) const override { return have_[piece.value()].load(); }
  std::uint64_t file_have_bytes(FileIndex file) const override {
    return testing::have_bytes_in_file(meta_.layout, file,
                                       [this](PieceIndex p) { return have_piece(p); });
  }
  int file_fd(FileIndex file) override {
    std::lock_guard lock(mutex_);
    int& fd = fds_[file.value()];
    if (fd < 0) fd = ::open((dir_ / meta_.layout.file(file).path).c_str(), O_RDONLY | O_CLOEXEC);
    return fd;
  }
  WaitTicket wait_for_range(const RangeRequest& request,
                            std::function<void(std::error_code)> done) override {
    std::unique_lock lock(mutex_);
    requests_.push_back(request);
    const WaitTicket ticket = next_ticket_++;
    if (range_complete(request)) {
      lock.unlock();
      done({});
      return ticket;
    }
    waits_.emplace(ticket, Wait{request, std::move(done)});
    cv_.notify_all();
    return ticket;
  }
  void cancel_wait(WaitTicket ticket) override {
    std::function<void(std::error_code)> done;
    {
      std::lock_guard lock(mutex_);
      ++cancels_;
      auto it = waits_.find(ticket);
      if (it == waits_.end()) return;
      done = std::move(it->second.done);
      waits_.erase(it);
    }
    done(std::make_error_code(std::errc::operation_canceled));
  }
  void close_reader(ReaderId reader) override {
    std::lock_guard lock(mutex_);
    closed_readers_.insert(reader);
  }
  bool acquire_read(std::uint64_t offset, std::uint64_t length) override {
    const bool ok = TorrentView::acquire_read(offset, length);
    if (ok) ++acquired_;
    return ok;
  }
  void release_read(std::uint64_t offset, std::uint64_t length) override {
    ++released_;
    TorrentView::release_read(offset, length);
  }
  TorrentStats stats() const override {
    TorrentStats s;
    s.total_bytes = meta_.layout.total_size();
    s.pieces_total = meta_.layout.num_pieces();
    for (PieceIndex p(0); p.value() < s.pieces_total; ++p) {
      if (!have_piece(p)) continue;
      ++s.pieces_have;
      s.have_bytes += meta_.layout.piece_size(p);
    }
    return s;
  }

  // --- test controls ---
  // Marks pieces verified and completes every wait they finish (on the calling thread, as an
  // engine thread would).
  void deliver(PieceIndex begin, PieceIndex end) {
    for (PieceIndex p = begin; p < end; ++p)
      have_[p.value()] = true;
    std::vector<std::function<void(std::error_code)>> ready;
    {
      std::lock_guard lock(mutex_);
      for (auto it = waits_.begin(); it != waits_.end();) {
        if (range_complete(it->second.request)) {
          ready.push_back(std::move(it->second.done));
          it = waits_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& done : ready)
      done({});
  }
  void deliver_all() { deliver(PieceIndex(0), PieceIndex(meta_.layout.num_pieces())); }
  void deliver_after(std::chrono::milliseconds delay, PieceIndex begin, PieceIndex end) {
    std::lock_guard lock(mutex_);
    timed_deliveries_.push_back({std::chrono::steady_clock::now() + delay, begin, end});
    cv_.notify_all();
  }
  // Another info-hash (fakes share one by default), e.g. to tell several torrents apart.
  void set_info_hash_seed(std::uint8_t seed) {
    for (int i = 0; i < 20; ++i)
      meta_.info_hash[i] = static_cast<std::uint8_t>(seed + i);
  }
  // Successful acquire_read() calls and release_read() calls so far.
  std::size_t acquired() const { return acquired_; }
  std::size_t released() const { return released_; }
  // The engine "forgets" deadlines: only the filesystem's own sweeper can answer then.
  void ignore_deadlines(bool ignore) { ignore_deadlines_ = ignore; }
  void fail_all(std::error_code ec) {
    std::map<WaitTicket, Wait> waits;
    {
      std::lock_guard lock(mutex_);
      waits.swap(waits_);
    }
    for (auto& [t, w] : waits)
      w.done(ec);
  }

  std::size_t waiting() const {
    std::lock_guard lock(mutex_);
    return waits_.size();
  }
  bool wait_until_waiting(std::size_t n,
                          std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (waiting() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  std::vector<RangeRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::set<ReaderId> closed_readers() const {
    std::lock_guard lock(mutex_);
    return closed_readers_;
  }
  std::size_t cancels() const {
    std::lock_guard lock(mutex_);
    return cancels_;
  }

 private:
  struct Wait {
    RangeRequest request;
    std::function<void(std::error_code)> done;
  };
  struct Delivery {
    std::chrono::steady_clock::time_point when;
    PieceIndex begin, end;
  };

  bool range_complete(const RangeRequest& r) const {
    const PieceRange pr = meta_.layout.pieces_for_range(r.offset, r.length);
    for (PieceIndex p = pr.begin; p < pr.end; ++p) {
      if (!have_piece(p)) return false;
    }
    return true;
  }

  void timer_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(10));
      const auto now = std::chrono::steady_clock::now();
      std::vector<std::function<void(std::error_code)>> expired;
      if (!ignore_deadlines_) {
        for (auto it = waits_.begin(); it != waits_.end();) {
          if (it->second.request.deadline <= now) {
            expired.push_back(std::move(it->second.done));
            it = waits_.erase(it);
          } else {
            ++it;
          }
        }
      }
      std::vector<Delivery> due;
      for (auto it = timed_deliveries_.begin(); it != timed_deliveries_.end();) {
        if (it->when <= now) {
          due.push_back(*it);
          it = timed_deliveries_.erase(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      for (auto& done : expired)
        done(std::make_error_code(std::errc::timed_out));
      for (auto& d : due)
        deliver(d.begin, d.end);
      lock.lock();
    }
  }

  std::filesystem::path dir_;
  Metainfo meta_;
  std::vector<std::atomic<bool>> have_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> fds_;
  std::map<WaitTicket, Wait> waits_;
  WaitTicket next_ticket_ = 1;
  std::vector<RangeRequest> requests_;
  std::set<ReaderId> closed_readers_;
  std::size_t cancels_ = 0;
  std::deque<Delivery> timed_deliveries_;
  std::atomic<bool> ignore_deadlines_{false};
  std::atomic<std::size_t> acquired_{0};
  std::atomic<std::size_t> released_{0};
  bool stopping_ = false;
  std::thread timer_;
};

}  // namespace torfs::testing
