// ReadaheadWindow: how far ahead of one open file handle's reads the engine should fetch.
//
// One window per open handle (never one global cursor): a second reader seeking around the
// same file does not shrink the first one's window. The window starts at `initial`, doubles on
// every sequential read up to `max`, and falls back to `initial` on a seek. "Sequential" is
// lenient because the kernel issues readahead requests to several FUSE threads at once and
// they may arrive slightly out of order: a read starting within `initial` bytes of the expected
// next offset (either side) is sequential.
//
// Thread safety: all members lock an internal mutex; one handle may be read by several
// threads at once.
#pragma once

#include <cstdint>
#include <mutex>

namespace torfs::fs {

struct ReadaheadConfig {
  std::uint64_t initial = 2 * 1024 * 1024;
  std::uint64_t max = 64 * 1024 * 1024;
};

class ReadaheadWindow {
 public:
  explicit ReadaheadWindow(ReadaheadConfig config = {});

  // Records a read of [offset, offset + length) and returns the window (bytes after the
  // read) the engine should prefetch for this handle.
  std::uint64_t on_read(std::uint64_t offset, std::uint64_t length);
  std::uint64_t current() const;

 private:
  ReadaheadConfig config_;
  mutable std::mutex mutex_;
  bool first_ = true;
  std::uint64_t next_ = 0;  // end of the furthest read so far in this sequential run
  std::uint64_t window_;
};

}  // namespace torfs::fs
