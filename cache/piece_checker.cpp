#include "cache/piece_checker.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>
#include <thread>

namespace torfs {
namespace {

constexpr std::size_t kChunk = 4 << 20;  // bytes per pread: large sequential reads
constexpr std::size_t kZeroChunk = 64 << 10;
const char kZeros[kZeroChunk] = {};

constexpr std::int64_t kSizeUnknown = -2;
constexpr std::int64_t kSizeAbsent = -1;

// Everything the workers share. Per-file sizes are looked up on first use (a check of a few
// pieces of a 100k-file torrent must not stat every file); racing lookups agree.
class Checker {
 public:
  Checker(const DataStore& store, const FileLayout& layout, std::span<const Sha1Hash> hashes,
          const CheckOptions& options, std::vector<PieceIndex> todo,
          std::vector<PieceState>& states)
      : store_(store),
        layout_(layout),
        hashes_(hashes),
        options_(options),
        todo_(std::move(todo)),
        states_(states),
        sizes_(new std::atomic<std::int64_t>[layout.num_files()]) {
    for (std::uint32_t i = 0; i < layout.num_files(); ++i)
      sizes_[i] = kSizeUnknown;
  }

  std::size_t work_items() const { return todo_.size(); }

  void worker() {
    const std::size_t buffer_size = std::min<std::size_t>(layout_.piece_length(), kChunk);
    std::unique_ptr<char[]> buffer(new char[buffer_size]);
    Sha1 sha;
    for (;;) {
      if (options_.cancel && options_.cancel->load(std::memory_order_relaxed)) return;
      const std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= todo_.size()) return;
      const PieceIndex piece = todo_[i];
      states_[piece.value()] = check(piece, sha, {buffer.get(), buffer_size});
      if (options_.progress) {
        std::lock_guard lock(progress_mutex_);
        options_.progress(++done_, static_cast<std::uint32_t>(todo_.size()));
      }
    }
  }

 private:
  // Size of the file on disk, or kSizeAbsent; pad files are "present" at their full size.
  std::int64_t file_size(FileIndex f) {
    std::int64_t size = sizes_[f.value()].load(std::memory_order_acquire);
    if (size != kSizeUnknown) return size;
    size = kSizeAbsent;
    if (layout_.file(f).pad) {
      size = static_cast<std::int64_t>(layout_.file(f).size);
    } else if (const int fd = store_.file_fd(f); fd >= 0) {
      struct stat st {};
      if (::fstat(fd, &st) == 0) {
        size = st.st_size;
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      }
    }
    sizes_[f.value()].store(size, std::memory_order_release);
    return size;
  }

  // Hashes [offset, offset + length) of file f into sha; false when bytes are missing.
  bool hash_slice(const FileSlice& s, Sha1& sha, std::span<char> buffer) {
    const FileEntry& entry = layout_.file(s.file);
    if (entry.pad) {
      for (std::uint64_t left = s.length; left > 0;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, kZeroChunk));
        sha.update(kZeros, n);
        left -= n;
      }
      return true;
    }
    const std::int64_t size = file_size(s.file);
    if (size < 0 || static_cast<std::uint64_t>(size) < s.file_offset + s.length) return false;
    const int fd = store_.file_fd(s.file);
    for (std::uint64_t done = 0; done < s.length;) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(s.length - done, buffer.size()));
      const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(s.file_offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // I/O error or truncated meanwhile: not available
      sha.update(buffer.data(), static_cast<std::size_t>(n));
      done += static_cast<std::uint64_t>(n);
    }
    return true;
  }

  PieceState check(PieceIndex piece, Sha1& sha, std::span<char> buffer) {
    const bool present =
        visit_slices(layout_, layout_.piece_offset(piece), layout_.piece_size(piece),
                     [&](const FileSlice& s) { return hash_slice(s, sha, buffer); });
    const Sha1Hash digest = sha.finish();  // also resets the hasher after a partial piece
    if (!present) return PieceState::missing;
    if (piece.value() >= hashes_.size()) return PieceState::bad;
    return digest == hashes_[piece.value()] ? PieceState::good : PieceState::bad;
  }

  const DataStore& store_;
  const FileLayout& layout_;
  const std::span<const Sha1Hash> hashes_;
  const CheckOptions& options_;
  const std::vector<PieceIndex> todo_;
  std::vector<PieceState>& states_;  // each index written by exactly one worker
  std::unique_ptr<std::atomic<std::int64_t>[]> sizes_;
  std::atomic<std::size_t> next_{0};
  std::mutex progress_mutex_;
  std::uint32_t done_ = 0;  // guarded by progress_mutex_
};

}  // namespace

std::vector<PieceState> check_pieces(const DataStore& store, const FileLayout& layout,
                                     std::span<const Sha1Hash> hashes,
                                     const CheckOptions& options) {
  const std::uint32_t num_pieces = layout.num_pieces();
  std::vector<PieceState> states(num_pieces, PieceState::missing);
  std::vector<PieceIndex> todo;
  if (options.only.empty()) {
    todo.reserve(num_pieces);
    for (std::uint32_t p = 0; p < num_pieces; ++p)
      todo.emplace_back(p);
  } else {
    for (PieceIndex p : options.only) {
      if (p.value() < num_pieces) todo.push_back(p);
    }
    std::sort(todo.begin(), todo.end());
    todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
  }
  Checker checker(store, layout, hashes, options, std::move(todo), states);
  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(
      std::clamp<std::size_t>(checker.work_items(), 1, std::max(threads, 1u)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back([&] { checker.worker(); });
  checker.worker();  // the calling thread works too
  for (auto& t : pool)
    t.join();
  return states;
}

}  // namespace torfs
