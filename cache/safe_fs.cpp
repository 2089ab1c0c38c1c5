#include "cache/safe_fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>

namespace torfs {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace safe_fs {
namespace {

Error sys_error(int err, const std::string& what, const std::filesystem::path& path) {
  return make_errno_error(err, what + " " + path.string() + ": " + std::strerror(err));
}

Error symlink_error(const std::filesystem::path& path, const std::string& why = {}) {
  return make_error(std::errc::too_many_symbolic_link_levels,
                    "refusing to follow symlink " + path.string() + why);
}

std::string octal(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool is_symlink_at(int dirfd, const std::string& name) {
  struct stat st {};
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

// Opens directory `name` below `dirfd` without following a symlink, creating it with `mode`
// when missing and `create` is set.
Result<UniqueFd> open_subdir(int dirfd, const std::string& name, bool create, mode_t mode,
                             const std::filesystem::path& shown) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::openat(dirfd, name.c_str(), kFlags);
  if (fd < 0 && errno == ENOENT && create) {
    if (::mkdirat(dirfd, name.c_str(), mode) < 0 && errno != EEXIST) {
      return sys_error(errno, "cannot create directory", shown);
    }
    fd = ::openat(dirfd, name.c_str(), kFlags);
  }
  if (fd < 0) {
    const int err = errno;
    if ((err == ELOOP || err == ENOTDIR) && is_symlink_at(dirfd, name)) return symlink_error(shown);
    return sys_error(err, "cannot open directory", shown);
  }
  return UniqueFd(fd);
}

// Walks `components` below `root_fd`. An invalid UniqueFd in the result means "root_fd itself"
// (no components), which saves a dup() on the common single-file path.
Result<UniqueFd> walk_below(int root_fd, const std::filesystem::path& root,
                            std::span<const std::string_view> components, bool create) {
  UniqueFd current;
  std::filesystem::path shown = root;
  for (std::string_view component : components) {
    std::string name(component);
    shown /= name;
    auto next =
        open_subdir(current.valid() ? current.get() : root_fd, name, create, kDataDirMode, shown);
    if (!next) return std::move(next).take_error();
    current = std::move(*next);
  }
  return current;
}

bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

// A symlink on a root path is followed only if neither it nor its directory can have been
// planted or replaced by another user (see the header).
bool trusted_symlink(const struct stat& link, const struct stat& parent) {
  const bool others_can_replace =
      (parent.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (parent.st_mode & S_ISVTX) == 0;
  return trusted_owner(link.st_uid) && trusted_owner(parent.st_uid) && !others_can_replace;
}

}  // namespace

Result<std::vector<std::string_view>> split_relative(std::string_view relative) {
  auto bad = [&](const char* why) {
    return make_error(std::errc::invalid_argument,
                      "unsafe relative path '" + std::string(relative) + "': " + why);
  };
  if (relative.empty()) return bad("empty path");
  if (relative.front() == '/') return bad("absolute path");
  if (relative.find('\0') != std::string_view::npos) return bad("contains NUL");
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= relative.size()) {
    std::size_t end = relative.find('/', start);
    if (end == std::string_view::npos) end = relative.size();
    const std::string_view c = relative.substr(start, end - start);
    if (c.empty()) return bad("empty component");
    if (c == "." || c == "..") return bad("'.' or '..' component");
    out.push_back(c);
    start = end + 1;
  }
  return out;
}

Result<UniqueFd> open_root_dir(const std::filesystem::path& path, bool create, mode_t mode,
                               bool final_may_be_symlink) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec).lexically_normal();
  if (ec) return make_errno_error(ec.value(), "cannot resolve " + path.string());
  std::vector<std::string> components;
  for (const auto& c : abs.relative_path()) {
    if (c.empty()) continue;  // trailing '/'
    if (c == "..") return make_error(std::errc::invalid_argument, "'..' in " + abs.string());
    components.push_back(c.string());
  }
  UniqueFd current(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!current.valid()) return sys_error(errno, "cannot open", "/");
  std::filesystem::path shown = "/";
  for (std::size_t i = 0; i < components.size(); ++i) {
    const std::string& name = components[i];
    const bool last = i + 1 == components.size();
    shown /= name;
    struct stat link {};
    if (::fstatat(current.get(), name.c_str(), &link, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISLNK(link.st_mode)) {
      auto next = open_subdir(current.get(), name, create, mode, shown);
      if (!next) return std::move(next).take_error();
      current = std::move(*next);
      continue;
    }
    if (last && !final_may_be_symlink) return symlink_error(shown);
    struct stat parent {};
    if (::fstat(current.get(), &parent) < 0) return sys_error(errno, "cannot stat", shown);
    if (!trusted_symlink(link, parent)) {
      return symlink_error(shown, " (owned by uid " + std::to_string(link.st_uid) +
                                      ", in a directory owned by uid " +
                                      std::to_string(parent.st_uid) + " with mode " +
                                      octal(parent.st_mode) + ": another user could plant it)");
    }
    UniqueFd next(::openat(current.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!next.valid()) return sys_error(errno, "cannot open directory (via symlink)", shown);
    current = std::move(next);
  }
  return current;
}

Result<UniqueFd> open_dir_below(int root_fd, const std::filesystem::path& root,
                                std::string_view relative, bool create) {
  std::vector<std::string_view> components;
  if (!relative.empty()) {
    auto split = split_relative(relative);
    if (!split) return std::move(split).take_error();
    components = std::move(*split);
  }
  auto dir = walk_below(root_fd, root, components, create);
  if (!dir) return dir;
  if (dir->valid()) return dir;
  UniqueFd again(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!again.valid()) return sys_error(errno, "cannot duplicate descriptor of", root);
  return again;
}

Result<UniqueFd> open_file_below(int root_fd, const std::filesystem::path& root,
                                 std::string_view relative, int access, bool create) {
  auto split = split_relative(relative);
  if (!split) return std::move(split).take_error();
  const std::span<const std::string_view> components = *split;
  auto dir = walk_below(root_fd, root, components.first(components.size() - 1), create);
  if (!dir) return std::move(dir).take_error();
  const int dirfd = dir->valid() ? dir->get() : root_fd;
  const std::string name(components.back());
  const std::filesystem::path shown = root / std::string(relative);
  // O_NONBLOCK: opening a planted FIFO must not hang; cleared below once the type is known.
  const int flags = access | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0);
  UniqueFd fd(::openat(dirfd, name.c_str(), flags, kDataFileMode));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ELOOP && is_symlink_at(dirfd, name)) return symlink_error(shown);
    return sys_error(err, "cannot open file", shown);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return sys_error(errno, "cannot stat", shown);
  if (!S_ISREG(st.st_mode)) {
    return make_error(std::errc::invalid_argument, "not a regular file: " + shown.string());
  }
  if (::fcntl(fd.get(), F_SETFL, access) < 0) return sys_error(errno, "cannot fcntl", shown);
  return fd;
}

Result<std::optional<struct stat>> stat_below(int root_fd, const std::filesystem::path& root,
                                              std::string_view relative) {
  auto split = split_relative(relative);
  if (!split) return std::move(split).take_error();
  const std::span<const std::string_view> components = *split;
  auto dir = walk_below(root_fd, root, components.first(components.size() - 1), false);
  if (!dir) {
    if (dir.error().code == std::errc::no_such_file_or_directory) {
      return std::optional<struct stat>();
    }
    return std::move(dir).take_error();
  }
  const std::string name(components.back());
  struct stat st {};
  if (::fstatat(dir->valid() ? dir->get() : root_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return std::optional<struct stat>();
    return sys_error(errno, "cannot stat", root / std::string(relative));
  }
  if (S_ISLNK(st.st_mode)) return symlink_error(root / std::string(relative));
  return std::optional<struct stat>(st);
}

Result<void> ensure_private_dir(const std::filesystem::path& path) {
  auto dir = open_root_dir(path, /*create=*/true, kPrivateDirMode, /*final_may_be_symlink=*/false);
  if (!dir) return std::move(dir).take_error();
  struct stat st {};
  if (::fstat(dir->get(), &st) < 0) return sys_error(errno, "cannot stat", path);
  if (st.st_uid != ::geteuid()) {
    return make_error(std::errc::permission_denied,
                      "refusing to use " + path.string() + ": owned by uid " +
                          std::to_string(st.st_uid) + ", not by us (uid " +
                          std::to_string(::geteuid()) + ")");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return make_error(std::errc::permission_denied, "refusing to use " + path.string() +
                                                        ": writable by group or others (mode " +
                                                        octal(st.st_mode) + ")");
  }
  return {};
}

}  // namespace safe_fs
}  // namespace torfs
