#include "tools/control_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "cache/safe_fs.hpp"
#include "cache/sha1.hpp"

namespace torfs::tools {
namespace {

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

Error sys_error(int err, const std::string& what) {
  return make_errno_error(err, what + ": " + std::strerror(err));
}

std::string octal(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Checks lstat data of the control directory; tightens looser bits when `fix` is set.
Result<void> check_dir_stat(const stdfs::path& dir, const struct stat& st, bool fix) {
  if (S_ISLNK(st.st_mode)) {
    return make_error(std::errc::too_many_symbolic_link_levels,
                      "refusing to use " + dir.string() + ": it is a symlink");
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(std::errc::not_a_directory,
                      "refusing to use " + dir.string() + ": not a directory");
  }
  if (st.st_uid != ::geteuid()) {
    return make_error(std::errc::permission_denied, "refusing to use " + dir.string() +
                                                        ": owned by uid " +
                                                        std::to_string(st.st_uid) + ", not by us");
  }
  if ((st.st_mode & 077) != 0) {
    if (!fix) {
      return make_error(std::errc::permission_denied, "refusing to use " + dir.string() +
                                                          ": open to group/others (mode " +
                                                          octal(st.st_mode) + ")");
    }
    if (::chmod(dir.c_str(), 0700) != 0) return sys_error(errno, "chmod " + dir.string());
  }
  return {};
}

Result<sockaddr_un> unix_address(const stdfs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof addr.sun_path) {
    return make_error(std::errc::filename_too_long,
                      "control socket path " + path.string() + " is too long for a Unix socket");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.native().size() + 1);
  return addr;
}

// Connects to `path`; the errno of a failed connect, or 0 (fd then owned by the caller).
int try_connect(const stdfs::path& path, int& fd_out) {
  auto addr = unix_address(path);
  if (!addr) return ENAMETOOLONG;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  fd_out = fd;
  return 0;
}

// Makes `path` free for a new socket: a stale socket is removed, a live one is an error.
Result<void> clear_stale_socket(const stdfs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sys_error(errno, "cannot stat " + path.string());
  }
  if (!S_ISSOCK(st.st_mode)) {
    return make_error(std::errc::file_exists,
                      path.string() + " exists and is not a socket; refusing to replace it");
  }
  int fd = -1;
  const int err = try_connect(path, fd);
  if (err == 0) {
    ::close(fd);
    return make_error(std::errc::address_in_use,
                      "another torfs process already serves " + path.string());
  }
  if (err != ECONNREFUSED) return sys_error(err, "cannot probe " + path.string());
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return sys_error(errno, "cannot remove stale socket " + path.string());
  }
  return {};
}

}  // namespace

struct ControlServer::State {
  int listen_fd = -1;
  int wake_fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  std::thread thread;
  bool stopped = false;
};

namespace control_detail {

bool peer_is_trusted(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() || cred.uid == 0;
}

Ready wait_fd(int fd, short events, Clock::time_point deadline, int wake_fd) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Ready::timeout;
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int ms = static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)) + 1;
    const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Ready::error;
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return Ready::woken;
    if (fds[0].revents & (events | POLLHUP | POLLERR)) return Ready::ready;
  }
}

}  // namespace control_detail

stdfs::path control_dir() {
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x == '/') {
    return stdfs::path(x) / "torfs";
  }
  const stdfs::path run_user = "/run/user/" + std::to_string(::geteuid());
  struct stat st {};
  if (::stat(run_user.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid()) {
    return run_user / "torfs";
  }
  return "/tmp/torfs-" + std::to_string(::geteuid());
}

Result<void> ensure_control_dir(const stdfs::path& dir) {
  if (auto r = safe_fs::ensure_private_dir(dir); !r) return r;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return sys_error(errno, "cannot stat " + dir.string());
  return check_dir_stat(dir, st, /*fix=*/true);
}

Result<void> check_control_dir(const stdfs::path& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return sys_error(errno, "cannot stat " + dir.string());
  return check_dir_stat(dir, st, /*fix=*/false);
}

stdfs::path control_socket_path(const stdfs::path& dir, const stdfs::path& mountpoint) {
  return dir / (to_hex(sha1(mountpoint.native())) + ".sock");
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const stdfs::path& mountpoint,
                                                            StatusFn status_json, stdfs::path dir) {
  if (dir.empty()) dir = control_dir();
  if (auto r = ensure_control_dir(dir); !r) return std::move(r).take_error();
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->path_ = control_socket_path(dir, mountpoint);
  server->status_ = std::move(status_json);
  server->state_ = std::make_unique<State>();
  State& s = *server->state_;
  auto addr = unix_address(server->path_);
  if (!addr) return std::move(addr).take_error();
  if (auto r = clear_stale_socket(server->path_); !r) return std::move(r).take_error();

  s.listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.listen_fd < 0) return sys_error(errno, "socket");
  if (::bind(s.listen_fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    return sys_error(errno, "cannot bind " + server->path_.string());
  }
  // The directory (0700, ours) already keeps others out between bind and chmod; changing the
  // process-wide umask instead would race with engine threads creating data files.
  if (::chmod(server->path_.c_str(), 0600) != 0) {
    const int err = errno;
    ::unlink(server->path_.c_str());
    return sys_error(err, "chmod " + server->path_.string());
  }
  struct stat st {};
  if (::lstat(server->path_.c_str(), &st) == 0) {
    s.dev = st.st_dev;
    s.ino = st.st_ino;
  }
  if (::listen(s.listen_fd, 16) != 0) return sys_error(errno, "listen " + server->path_.string());
  s.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.wake_fd < 0) return sys_error(errno, "eventfd");
  ControlServer* self = server.get();
  s.thread = std::thread([self] { self->serve(); });
  return server;
}

ControlServer::~ControlServer() {
  stop();
}

void ControlServer::stop() {
  if (!state_ || state_->stopped) return;
  State& s = *state_;
  s.stopped = true;
  if (s.thread.joinable()) {
    const std::uint64_t one = 1;
    if (::write(s.wake_fd, &one, sizeof one) < 0) {
      // An eventfd write only fails on counter overflow, which cannot happen here.
    }
    s.thread.join();
  }
  // Unlink only our own socket: a later mount on the same mountpoint may have replaced it.
  struct stat st {};
  if (s.listen_fd >= 0 && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == s.dev &&
      st.st_ino == s.ino) {
    ::unlink(path_.c_str());
  }
  if (s.listen_fd >= 0) ::close(s.listen_fd);
  if (s.wake_fd >= 0) ::close(s.wake_fd);
  s.listen_fd = s.wake_fd = -1;
}

void ControlServer::serve() {
  const int listen_fd = state_->listen_fd, wake_fd = state_->wake_fd;
  for (;;) {
    const auto ready =
        control_detail::wait_fd(listen_fd, POLLIN, Clock::time_point::max(), wake_fd);
    if (ready == control_detail::Ready::woken || ready == control_detail::Ready::error) return;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // EAGAIN (the client gave up), EMFILE...: try again later
    handle(fd);
    ::close(fd);
  }
}

// Reads the request line, answers it, all within the timeouts and interruptible by stop().
void ControlServer::handle(int fd) {
  const int wake_fd = state_->wake_fd;
  std::string reply;
  std::string request;
  if (!control_detail::peer_is_trusted(fd)) {
    reply = "error permission denied: the mount belongs to another user\n";
  } else {
    const auto deadline = Clock::now() + kRequestTimeout;
    while (request.find('\n') == std::string::npos && request.size() <= kMaxRequest) {
      if (control_detail::wait_fd(fd, POLLIN, deadline, wake_fd) != control_detail::Ready::ready) {
        return;
      }
      char buf[kMaxRequest + 1];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    const std::size_t nl = request.find('\n');
    const std::string line = nl == std::string::npos ? request : request.substr(0, nl);
    if (nl == std::string::npos || nl > kMaxRequest) {
      reply = "error bad request: expected one line\n";
    } else if (line == "status") {
      try {
        reply = "ok\n" + status_() + "\n";
      } catch (const std::exception& e) {
        reply = std::string("error cannot build the status: ") + e.what() + "\n";
      }
    } else {
      reply = "error unknown request\n";
    }
  }
  const auto deadline = Clock::now() + kReplyTimeout;
  for (std::size_t done = 0; done < reply.size();) {
    const ssize_t n = ::send(fd, reply.data() + done, reply.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return;
    if (control_detail::wait_fd(fd, POLLOUT, deadline, wake_fd) != control_detail::Ready::ready) {
      return;
    }
  }
}

}  // namespace torfs::tools
