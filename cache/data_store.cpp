#include "cache/data_store.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace torfs {
namespace {

Error io_error(int err, const char* op, std::uint64_t length, std::uint64_t offset,
               const std::filesystem::path& path) {
  return make_errno_error(err, std::string("cannot ") + op + " " + std::to_string(length) +
                                   " bytes at offset " + std::to_string(offset) + " of " +
                                   path.string() + ": " + std::strerror(err));
}

Error read_only_error(const std::filesystem::path& root) {
  return make_error(std::errc::read_only_file_system,
                    "data store " + root.string() + " was opened read-only");
}

}  // namespace

Result<std::unique_ptr<DataStore>> DataStore::open(std::filesystem::path root,
                                                   const FileLayout& layout,
                                                   DataStoreOptions options) {
  std::error_code ec;
  root = std::filesystem::absolute(root, ec).lexically_normal();
  if (ec) return make_errno_error(ec.value(), "cannot resolve data dir " + root.string());
  auto root_fd = safe_fs::open_root_dir(root, !options.read_only, safe_fs::kDataDirMode);
  if (!root_fd) return std::move(root_fd).take_error();
  return std::unique_ptr<DataStore>(
      new DataStore(std::move(root), std::move(*root_fd), layout, std::move(options)));
}

DataStore::DataStore(std::filesystem::path root, UniqueFd root_fd, const FileLayout& layout,
                     DataStoreOptions options)
    : root_(std::move(root)),
      root_fd_(std::move(root_fd)),
      layout_(layout),
      options_(std::move(options)),
      slots_(new FileSlot[layout.num_files()]) {}

DataStore::~DataStore() {
  for (std::uint32_t i = 0; i < layout_.num_files(); ++i) {
    const int fd = slots_[i].fd.load();
    if (fd >= 0) ::close(fd);
  }
}

Result<int> DataStore::lookup(FileIndex file) const {
  FileSlot& slot = slots_[file.value()];
  int fd = slot.fd.load(std::memory_order_acquire);
  if (fd != kUnknown) return fd;
  if (layout_.file(file).pad) return kAbsent;
  std::lock_guard lock(open_mutex_);
  fd = slot.fd.load(std::memory_order_acquire);
  if (fd != kUnknown) return fd;
  auto opened = safe_fs::open_file_below(root_fd_.get(), root_, layout_.file(file).path,
                                         options_.read_only ? O_RDONLY : O_RDWR, false);
  if (!opened) {
    if (opened.error().code != std::errc::no_such_file_or_directory) {
      return std::move(opened).take_error();
    }
    fd = kAbsent;
  } else {
    fd = opened->release();
  }
  slot.fd.store(fd, std::memory_order_release);
  return fd;
}

Result<int> DataStore::open_for_write(FileIndex file) {
  FileSlot& slot = slots_[file.value()];
  const int known = slot.fd.load(std::memory_order_acquire);
  if (known >= 0 && slot.size_fixed.load(std::memory_order_acquire)) return known;
  if (known == kUnknown) {
    auto existing = lookup(file);
    if (!existing) return existing;
  }
  std::lock_guard lock(open_mutex_);
  int fd = slot.fd.load(std::memory_order_acquire);
  const FileEntry& entry = layout_.file(file);
  const std::filesystem::path path = path_of(file);
  UniqueFd created;
  if (fd < 0) {
    auto opened = safe_fs::open_file_below(root_fd_.get(), root_, entry.path, O_RDWR, true);
    if (!opened) return std::move(opened).take_error();
    created = std::move(*opened);
    fd = created.get();
    // The new entry (and any directory created for it) is durable only once its parent
    // directories are fsync'ed: remember all of them for the next sync().
    new_dirs_.insert(std::string());
    for (std::size_t slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1)) {
      new_dirs_.insert(entry.path.substr(0, slash));
    }
  }
  if (!slot.size_fixed.load(std::memory_order_acquire)) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return io_error(errno, "stat", 0, 0, path);
    if (static_cast<std::uint64_t>(st.st_size) != entry.size &&
        ::ftruncate(fd, static_cast<off_t>(entry.size)) < 0) {
      return make_errno_error(errno, "cannot set size of " + path.string() + " to " +
                                         std::to_string(entry.size) + ": " + std::strerror(errno));
    }
  }
  if (created.valid()) slot.fd.store(created.release(), std::memory_order_release);
  slot.size_fixed.store(true, std::memory_order_release);
  return fd;
}

Result<void> DataStore::write_slice(const FileSlice& slice, const char* data) {
  auto fd = open_for_write(slice.file);
  if (!fd) return std::move(fd).take_error();
  if (options_.fault_hook) {
    auto injected = options_.fault_hook(IoOp::write, slice.file, slice.file_offset,
                                        static_cast<std::size_t>(slice.length));
    if (!injected) return injected;
  }
  std::uint64_t done = 0;
  while (done < slice.length) {
    const ssize_t n = ::pwrite(*fd, data + done, slice.length - done,
                               static_cast<off_t>(slice.file_offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return io_error(n < 0 ? errno : ENOSPC, "write", slice.length - done,
                      slice.file_offset + done, path_of(slice.file));
    }
    done += static_cast<std::uint64_t>(n);
  }
  slots_[slice.file.value()].dirty.store(true, std::memory_order_release);
  return {};
}

Result<void> DataStore::write(std::uint64_t stream_offset, std::string_view data) {
  if (options_.read_only) return read_only_error(root_);
  if (stream_offset > layout_.total_size() || data.size() > layout_.total_size() - stream_offset) {
    return make_error(std::errc::invalid_argument,
                      "write of " + std::to_string(data.size()) + " bytes at stream offset " +
                          std::to_string(stream_offset) + " ends past the torrent's " +
                          std::to_string(layout_.total_size()) + " bytes (" + root_.string() + ")");
  }
  Result<void> result;
  std::uint64_t pos = 0;
  visit_slices(layout_, stream_offset, data.size(), [&](const FileSlice& slice) {
    if (!layout_.file(slice.file).pad) result = write_slice(slice, data.data() + pos);
    pos += slice.length;
    return result.ok();
  });
  return result;
}

Result<std::size_t> DataStore::read(std::uint64_t stream_offset, std::span<char> out) const {
  if (stream_offset >= layout_.total_size()) return std::size_t{0};
  const std::size_t total = static_cast<std::size_t>(
      std::min<std::uint64_t>(out.size(), layout_.total_size() - stream_offset));
  Result<void> result;
  std::size_t pos = 0;
  visit_slices(layout_, stream_offset, total, [&](const FileSlice& slice) {
    char* dst = out.data() + pos;
    const std::size_t len = static_cast<std::size_t>(slice.length);
    pos += len;
    auto fd = lookup(slice.file);
    if (!fd) {
      result = std::move(fd).take_error();
      return false;
    }
    std::size_t done = 0;
    while (*fd >= 0 && done < len) {
      const ssize_t n =
          ::pread(*fd, dst + done, len - done, static_cast<off_t>(slice.file_offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        result = io_error(errno, "read", len - done, slice.file_offset + done, path_of(slice.file));
        return false;
      }
      if (n == 0) break;  // the file is shorter than the torrent says: zeros
      done += static_cast<std::size_t>(n);
    }
    std::memset(dst + done, 0, len - done);
    return true;
  });
  if (!result) return std::move(result).take_error();
  return total;
}

int DataStore::file_fd(FileIndex file) const {
  auto fd = lookup(file);
  return fd ? *fd : -1;
}

Result<void> DataStore::sync() {
  if (options_.read_only) return read_only_error(root_);
  std::lock_guard serial(sync_mutex_);
  Result<void> result;
  auto fail = [&](Error e) {
    if (result) result = std::move(e);
  };
  for (std::uint32_t i = 0; i < layout_.num_files(); ++i) {
    FileSlot& slot = slots_[i];
    if (!slot.dirty.exchange(false, std::memory_order_acq_rel)) continue;
    Result<void> synced;
    if (options_.fault_hook) synced = options_.fault_hook(IoOp::sync, FileIndex(i), 0, 0);
    const int fd = slot.fd.load(std::memory_order_acquire);
    if (synced && ::fdatasync(fd) < 0) {
      synced = make_errno_error(errno, "cannot fdatasync " + path_of(FileIndex(i)).string() + ": " +
                                           std::strerror(errno));
    }
    if (!synced) {
      slot.dirty.store(true, std::memory_order_release);
      fail(std::move(synced).take_error());
    }
  }
  std::set<std::string> dirs;
  {
    std::lock_guard lock(open_mutex_);
    dirs.swap(new_dirs_);
  }
  for (auto it = dirs.begin(); it != dirs.end();) {
    auto dir = safe_fs::open_dir_below(root_fd_.get(), root_, *it, false);
    if (dir && ::fsync(dir->get()) == 0) {
      it = dirs.erase(it);
      continue;
    }
    fail(dir ? make_errno_error(errno, "cannot fsync directory " + (root_ / *it).string())
             : std::move(dir).take_error());
    ++it;
  }
  if (!dirs.empty()) {
    std::lock_guard lock(open_mutex_);
    new_dirs_.merge(dirs);
  }
  return result;
}

Result<void> DataStore::create_empty_files() {
  if (options_.read_only) return read_only_error(root_);
  for (std::uint32_t i = 0; i < layout_.num_files(); ++i) {
    const FileEntry& entry = layout_.file(FileIndex(i));
    if (entry.size != 0 || entry.pad) continue;
    auto fd = open_for_write(FileIndex(i));
    if (!fd) return std::move(fd).take_error();
  }
  return {};
}

DataStore::FileState DataStore::file_state(FileIndex file) const {
  const FileEntry& entry = layout_.file(file);
  if (entry.pad) return {};
  auto st = safe_fs::stat_below(root_fd_.get(), root_, entry.path);
  if (!st || !*st || !S_ISREG((*st)->st_mode)) return {};
  const struct stat& s = **st;
  return FileState{true, static_cast<std::uint64_t>(s.st_size),
                   std::int64_t{s.st_mtim.tv_sec} * 1'000'000'000 + s.st_mtim.tv_nsec};
}

Result<std::uint64_t> DataStore::punch(std::uint64_t stream_offset, std::uint64_t length) {
  if (options_.read_only) return read_only_error(root_);
  if (stream_offset > layout_.total_size() || length > layout_.total_size() - stream_offset) {
    return make_error(std::errc::invalid_argument,
                      "punch of " + std::to_string(length) + " bytes at stream offset " +
                          std::to_string(stream_offset) + " ends past the torrent's " +
                          std::to_string(layout_.total_size()) + " bytes (" + root_.string() + ")");
  }
  Result<void> result;
  std::uint64_t punched = 0;
  visit_slices(layout_, stream_offset, length, [&](const FileSlice& slice) {
    // Round inward: a block shared with a neighbour's bytes must keep its data.
    const std::uint64_t block = block_size(slice.file);
    const std::uint64_t begin = (slice.file_offset + block - 1) / block * block;
    const std::uint64_t end = (slice.file_offset + slice.length) / block * block;
    if (end <= begin) return true;
    auto n = punch_file(slice.file, begin, end - begin);
    if (!n) {
      result = std::move(n).take_error();
      return false;
    }
    punched += *n;
    return true;
  });
  if (!result) return std::move(result).take_error();
  return punched;
}

Result<std::uint64_t> DataStore::punch_file(FileIndex file, std::uint64_t file_offset,
                                            std::uint64_t length) {
  if (options_.read_only) return read_only_error(root_);
  const FileEntry& entry = layout_.file(file);
  if (file_offset > entry.size || length > std::numeric_limits<off_t>::max() - file_offset) {
    return make_error(std::errc::invalid_argument,
                      "punch of " + std::to_string(length) + " bytes at offset " +
                          std::to_string(file_offset) + " starts past the end of " +
                          path_of(file).string() + " (" + std::to_string(entry.size) + " bytes)");
  }
  if (entry.pad || length == 0) return std::uint64_t{0};
  auto fd = lookup(file);
  if (!fd) return std::move(fd).take_error();
  if (*fd < 0) return std::uint64_t{0};  // never written: nothing allocated
  if (::fallocate(*fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(file_offset),
                  static_cast<off_t>(length)) < 0) {
    return io_error(errno, "punch a hole of", length, file_offset, path_of(file));
  }
  return length;
}

std::uint64_t DataStore::block_size(FileIndex file) const {
  FileSlot& slot = slots_[file.value()];
  if (const std::uint64_t known = slot.block_size.load(std::memory_order_relaxed)) return known;
  struct stat st {};
  auto fd = lookup(file);
  const bool from_file = fd && *fd >= 0 && ::fstat(*fd, &st) == 0;
  if (!from_file && ::fstat(root_fd_.get(), &st) != 0) st.st_blksize = 0;
  const std::uint64_t size = st.st_blksize > 0 ? static_cast<std::uint64_t>(st.st_blksize) : 4096;
  if (from_file) slot.block_size.store(size, std::memory_order_relaxed);
  return size;
}

}  // namespace torfs
