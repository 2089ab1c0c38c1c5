// safe_fs: create and open paths strictly below a root directory without ever following a
// symlink planted by someone else (CVE-2009-1760, CVE-2010-0012, btfs #111).
//
// Two kinds of paths, two policies:
//  - Paths BELOW a root (a torrent's files inside its data dir) come from the torrent. Every
//    component is opened with openat(O_NOFOLLOW): a symlink anywhere (a directory component or
//    the file itself) is refused with "refusing to follow symlink <path>" (std::errc::
//    too_many_symbolic_link_levels). "..", ".", empty, absolute and NUL-containing components
//    are rejected before any system call.
//  - The ROOT itself (a data dir the user named, the default state dir) may legitimately go
//    through symlinks (/home -> /var/home, ~/Downloads -> /mnt/disk). A symlink on that path is
//    followed only when nobody but us or root could have planted it: the link is owned by us or
//    root, and its directory is owned by us or root and is not writable by group/others (unless
//    sticky, like /tmp, where others cannot replace our entries). Anything else is refused.
//
// All functions are thread-safe (they only use the descriptors passed in).
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/result.hpp"

namespace torfs {

// Owns one file descriptor; closes it on destruction. Movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

namespace safe_fs {

inline constexpr mode_t kDataDirMode = 0755;
inline constexpr mode_t kDataFileMode = 0644;
inline constexpr mode_t kPrivateDirMode = 0700;

// Splits a '/'-separated relative path into its components. Fails (naming the path) on an
// empty path, an absolute path, and on empty, ".", ".." or NUL-containing components.
Result<std::vector<std::string_view>> split_relative(std::string_view relative);

// Opens the directory `path` (made absolute against the current directory), creating missing
// components with `mode` when `create` is set. Symlinks on the way follow the root policy
// above; a symlink as the last component is refused when `final_may_be_symlink` is false.
Result<UniqueFd> open_root_dir(const std::filesystem::path& path, bool create, mode_t mode,
                               bool final_may_be_symlink = true);

// Opens the directory `relative` below `root_fd` (O_NOFOLLOW on every component), creating
// missing components with kDataDirMode when `create` is set. An empty `relative` is allowed
// here and opens the root itself again. `root` is only used in error messages.
Result<UniqueFd> open_dir_below(int root_fd, const std::filesystem::path& root,
                                std::string_view relative, bool create);

// Opens the file `relative` below `root_fd` with O_NOFOLLOW|O_CLOEXEC and `access`
// (O_RDONLY or O_RDWR); with `create`, missing parent directories (kDataDirMode) and the
// file (kDataFileMode) are created. A missing file without `create` fails with
// std::errc::no_such_file_or_directory. Refuses anything that is not a regular file.
Result<UniqueFd> open_file_below(int root_fd, const std::filesystem::path& root,
                                 std::string_view relative, int access, bool create);

// lstat of `relative` below `root_fd` without following any symlink: nullopt when the file
// or one of its directories does not exist. A symlink on the way is an error.
Result<std::optional<struct stat>> stat_below(int root_fd, const std::filesystem::path& root,
                                              std::string_view relative);

// Creates the directory `path` (and missing parents) with mode 0700, for the default data
// dir and the state dir. Refuses (with the path in the message) when the directory is a
// symlink, is not a directory, is owned by another user, or is writable by group/others;
// parents follow the root policy above.
Result<void> ensure_private_dir(const std::filesystem::path& path);

}  // namespace safe_fs
}  // namespace torfs
