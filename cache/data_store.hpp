// DataStore: the data files of one torrent, laid out as in the torrent below a root directory
// (file i lives at root / layout.file(i).path), accessed with pread/pwrite by stream offset.
//
// Contract:
//  - Files are created on first write ("sparse until written"), then ftruncate'd to their final
//    size (sparse). Existing files from an earlier run are opened, never truncated; a file with
//    the wrong size is left alone until it is written (then its size is fixed) and shows up in
//    file_state(). Zero-length files are only created by create_empty_files().
//  - Nothing is ever created or written outside root: every path component below root is
//    opened with O_NOFOLLOW (see safe_fs.hpp), so a planted symlink is refused, not followed.
//  - Errors (ENOSPC, EACCES, EROFS, symlinks...) come back as Error naming the file (and the
//    offset for I/O errors).
//  - Durability: write() only reaches the page cache. sync() makes every write that returned
//    before it durable (fdatasync of each file written since the last sync, and fsync of the
//    directories of newly created files). Callers commit completion rows only after sync().
//
// Thread safety: every member may be called concurrently from any thread. read(), write() and
// file_fd() take no lock once a file is open (descriptors live in per-file atomics); opening or
// creating a file takes an internal mutex.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_layout.hpp"
#include "cache/index.hpp"
#include "cache/result.hpp"
#include "cache/safe_fs.hpp"

namespace torfs {

// Fault injection for crash and disk-full tests (LevelDB's FaultInjectionTestEnv in small):
// called before every pwrite (op == write) and every fdatasync (op == sync, offset/length 0).
// Returning an Error makes that operation fail with it, without touching the disk.
enum class IoOp { write, sync };
using FaultHook = std::function<Result<void>(IoOp op, FileIndex file, std::uint64_t file_offset,
                                             std::size_t length)>;

struct DataStoreOptions {
  // Open existing files read-only and never create anything (torfs verify on read-only media).
  // write(), sync() and create_empty_files() then fail with std::errc::read_only_file_system.
  bool read_only = false;
  FaultHook fault_hook;  // empty in production
};

// Calls visit(FileSlice) for each slice of [offset, offset + length) of the stream in order,
// clipped at total_size(), skipping zero-length files (pad files are included): the same
// slices as FileLayout::map_range without allocating. Stops early when visit returns false;
// returns false then.
template <class Visit>
bool visit_slices(const FileLayout& layout, std::uint64_t offset, std::uint64_t length,
                  Visit&& visit) {
  if (offset >= layout.total_size()) return true;
  length = std::min(length, layout.total_size() - offset);
  for (FileIndex f = layout.file_at(offset); length > 0 && f.value() < layout.num_files(); ++f) {
    const FileEntry& e = layout.file(f);
    if (e.size == 0) continue;
    const std::uint64_t in_file = offset - e.offset;
    const std::uint64_t n = std::min(length, e.size - in_file);
    if (!visit(FileSlice{f, in_file, n})) return false;
    offset += n;
    length -= n;
  }
  return true;
}

class DataStore {
 public:
  struct FileState {
    bool exists = false;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
  };

  // Opens (creating it and its missing parents with mode 0755 unless read_only) the data
  // directory `root`; symlinks on the way to root follow the policy of safe_fs::open_root_dir.
  // Creates no data file. The layout is copied.
  static Result<std::unique_ptr<DataStore>> open(std::filesystem::path root,
                                                 const FileLayout& layout,
                                                 DataStoreOptions options = {});
  ~DataStore();
  DataStore(const DataStore&) = delete;
  DataStore& operator=(const DataStore&) = delete;

  // Writes `data` at `stream_offset` of the torrent byte stream (must end within total_size).
  // Bytes falling in pad files are dropped. On error, some slices may have been written.
  Result<void> write(std::uint64_t stream_offset, std::string_view data);
  // Reads up to out.size() bytes at `stream_offset`, clipped at total_size(); returns the count.
  // Pad files, absent files and bytes past the end of a short file read as zeros.
  Result<std::size_t> read(std::uint64_t stream_offset, std::span<char> out) const;
  // A descriptor of the file usable with pread/splice, or -1 when the file does not exist (or
  // is a pad file). Owned by the store and valid until it is destroyed: never close it.
  int file_fd(FileIndex file) const;
  // fdatasync of every file written since the last sync. On failure the failed files stay
  // marked, so a later sync() retries them.
  Result<void> sync();
  // Creates every zero-length (non-pad) file of the layout; a download calls this on
  // completion so the tree on disk matches the torrent.
  Result<void> create_empty_files();
  // What is on disk now (for change detection on restart). Absent or not a regular file, or
  // behind a symlink: exists == false.
  FileState file_state(FileIndex file) const;
  // Gives the disk blocks under [stream_offset, stream_offset + length) of the stream back to
  // the filesystem (fallocate PUNCH_HOLE | KEEP_SIZE; cache eviction): those bytes read as
  // zeros afterwards, file sizes do not change. Only whole filesystem blocks (st_blksize) that
  // lie inside a file's slice of the range are punched, so bytes outside the range are never
  // touched; the partial blocks at the edges keep their data and stay allocated. Pad files and
  // absent files are skipped. Returns the number of bytes punched. Fails on a read-only store,
  // an out-of-range request, or a filesystem without hole punching (EOPNOTSUPP), naming the
  // file. Callers must make sure nobody reads or writes the range meanwhile.
  Result<std::uint64_t> punch(std::uint64_t stream_offset, std::uint64_t length);
  // Punches exactly [file_offset, file_offset + length) of one file (the range may extend past
  // the end of the file, up to a block boundary): whole blocks inside are freed, partial blocks
  // at the edges are zeroed but stay allocated. The caller vouches for every byte of the range
  // (e.g. rounded out to block_size() only where the neighbouring bytes are known absent).
  // A pad file or an absent file punches nothing. Returns the bytes passed to fallocate.
  Result<std::uint64_t> punch_file(FileIndex file, std::uint64_t file_offset, std::uint64_t length);
  // The filesystem block size of `file` (st_blksize; of the data directory while the file does
  // not exist yet). Cached once the file exists.
  std::uint64_t block_size(FileIndex file) const;

  const FileLayout& layout() const { return layout_; }
  const std::filesystem::path& root() const { return root_; }

 private:
  static constexpr int kUnknown = -2;  // not looked up yet
  static constexpr int kAbsent = -1;   // looked up: does not exist (only a write creates it)

  struct FileSlot {
    std::atomic<int> fd{kUnknown};
    std::atomic<bool> dirty{false};       // written since the last sync
    std::atomic<bool> size_fixed{false};  // ftruncate'd to its final size by us
    // st_blksize of the file, 0 = not known yet.
    std::atomic<std::uint64_t> block_size{0};
  };

  DataStore(std::filesystem::path root, UniqueFd root_fd, const FileLayout& layout,
            DataStoreOptions options);
  // The file's descriptor (opening an existing file on first use), or kAbsent.
  Result<int> lookup(FileIndex file) const;
  // The file's descriptor, creating the file and fixing its size if needed.
  Result<int> open_for_write(FileIndex file);
  Result<void> write_slice(const FileSlice& slice, const char* data);
  std::filesystem::path path_of(FileIndex file) const { return root_ / layout_.file(file).path; }

  const std::filesystem::path root_;
  const UniqueFd root_fd_;
  const FileLayout layout_;
  const DataStoreOptions options_;
  std::unique_ptr<FileSlot[]> slots_;
  mutable std::mutex open_mutex_;   // serializes opening/creating files
  std::set<std::string> new_dirs_;  // guarded by open_mutex_: dirs to fsync at next sync()
  std::mutex sync_mutex_;           // one sync() at a time
};

}  // namespace torfs
