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
#include <span>
#include <string>
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
  ControlServerOptions options;
  std::thread thread;
  bool stopped = false;
};

namespace {

// Rounded-up milliseconds from `now` to `deadline`, for poll(): at least 0, at most a minute.
int ms_until(Clock::time_point deadline, Clock::time_point now) {
  if (deadline <= now) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<std::int64_t>(left, 60'000));
}

// The server thread's open connections. Each reads its request line, then writes its reply,
// each phase within its own deadline; a connection never waits for another. Not thread-safe:
// only the server thread uses it.
class ConnectionSet {
 public:
  ConnectionSet(const ControlServerOptions& options, const ControlServer::StatusFn& status)
      : options_(options), status_(status) {}

  std::size_t size() const { return connections_.size(); }

  // Takes a freshly accepted (non-blocking) connection. An untrusted peer is only told no.
  void accept(UniqueFd fd, Clock::time_point now) {
    Connection c;
    c.fd = std::move(fd);
    c.deadline = now + options_.request_timeout;
    if (!control_detail::peer_is_trusted(c.fd.get())) {
      start_reply(c, "error permission denied: the mount belongs to another user\n", now);
      if (!write_some(c)) return;
    }
    connections_.push_back(std::move(c));
  }

  // Appends one pollfd per connection, in the order progress() expects them back.
  void add_pollfds(std::vector<pollfd>& fds) const {
    for (const Connection& c : connections_) {
      fds.push_back({c.fd.get(), static_cast<short>(c.replying ? POLLOUT : POLLIN), 0});
    }
  }

  // Time to the earliest deadline for poll(); -1 (no limit) without connections.
  int poll_timeout_ms(Clock::time_point now) const {
    if (connections_.empty()) return -1;
    Clock::time_point first = Clock::time_point::max();
    for (const Connection& c : connections_)
      first = std::min(first, c.deadline);
    return ms_until(first, now);
  }

  // Advances the connections whose pollfds (from add_pollfds) report events, and closes the
  // ones that finished, failed or passed their deadline.
  void progress(std::span<const pollfd> polled, Clock::time_point now) {
    for (std::size_t i = 0; i < connections_.size() && i < polled.size(); ++i) {
      Connection& c = connections_[i];
      bool keep = true;
      if (polled[i].revents != 0) keep = c.replying ? write_some(c) : read_some(c, now);
      if (!keep || now >= c.deadline) c.fd.reset();
    }
    std::erase_if(connections_, [](const Connection& c) { return !c.fd.valid(); });
  }

 private:
  struct Connection {
    UniqueFd fd;
    std::string request;  // bytes received so far
    std::string reply;    // set once, when the request is complete
    std::size_t sent = 0;
    bool replying = false;
    Clock::time_point deadline;  // of the current phase
  };

  void start_reply(Connection& c, std::string reply, Clock::time_point now) {
    c.reply = std::move(reply);
    c.replying = true;
    c.deadline = now + options_.reply_timeout;
  }

  // Reads what is there; once the line (or EOF, or too much) is in, answers it. False: close.
  bool read_some(Connection& c, Clock::time_point now) {
    char buf[kMaxRequest + 1];
    for (;;) {
      const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      c.request.append(buf, static_cast<std::size_t>(n));
      if (n == 0 || c.request.find('\n') != std::string::npos || c.request.size() > kMaxRequest) {
        start_reply(c, answer(c.request), now);
        return write_some(c);
      }
    }
  }

  // Sends what the socket takes. False: close (all sent, or the peer is gone).
  static bool write_some(Connection& c) {
    while (c.sent < c.reply.size()) {
      const ssize_t n =
          ::send(c.fd.get(), c.reply.data() + c.sent, c.reply.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EINTR) {
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
    }
    return false;
  }

  // The reply to `request` (the bytes received, the line included); calls status_ at most once.
  std::string answer(const std::string& request) const {
    const std::size_t nl = request.find('\n');
    if (nl == std::string::npos || nl > kMaxRequest)
      return "error bad request: expected one line\n";
    if (request.compare(0, nl, "status") != 0) return "error unknown request\n";
    try {
      return "ok\n" + status_() + "\n";
    } catch (const std::exception& e) {
      return std::string("error cannot build the status: ") + e.what() + "\n";
    }
  }

  const ControlServerOptions& options_;
  const ControlServer::StatusFn& status_;
  std::vector<Connection> connections_;
};

}  // namespace

namespace control_detail {

bool peer_is_trusted(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() || cred.uid == 0;
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
                                                            StatusFn status_json, stdfs::path dir,
                                                            ControlServerOptions options) {
  if (dir.empty()) dir = control_dir();
  if (auto r = ensure_control_dir(dir); !r) return std::move(r).take_error();
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->path_ = control_socket_path(dir, mountpoint);
  server->status_ = std::move(status_json);
  server->state_ = std::make_unique<State>();
  State& s = *server->state_;
  s.options = options;
  s.options.max_connections = std::max<std::size_t>(options.max_connections, 1);
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
  if (::listen(s.listen_fd, static_cast<int>(kMaxConnections)) != 0)
    return sys_error(errno, "listen " + server->path_.string());
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

// The server thread: one poll() over the stop event, the listening socket (while a slot is
// free) and every connection.
void ControlServer::serve() {
  const State& s = *state_;
  ConnectionSet connections(s.options, status_);
  Clock::time_point accept_again{};  // after running out of fds: do not spin on accept()
  std::vector<pollfd> fds;
  for (;;) {
    const auto now = Clock::now();
    const bool accepting = connections.size() < s.options.max_connections && now >= accept_again;
    // A negative fd is ignored by poll(): with every slot taken, newcomers wait in the backlog.
    fds.assign({{s.wake_fd, POLLIN, 0}, {accepting ? s.listen_fd : -1, POLLIN, 0}});
    connections.add_pollfds(fds);
    int timeout = connections.poll_timeout_ms(now);
    if (now < accept_again)
      timeout = std::min(timeout < 0 ? 60'000 : timeout, ms_until(accept_again, now));
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[0].revents & POLLIN)) return;  // stop(), or poll() itself failed
    connections.progress(std::span(fds).subspan(2), Clock::now());
    if (!accepting || !(fds[1].revents & POLLIN)) continue;
    while (connections.size() < s.options.max_connections) {
      const int fd = ::accept4(s.listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        connections.accept(UniqueFd(fd), Clock::now());
        continue;
      }
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        accept_again = Clock::now() + std::chrono::milliseconds(100);
      }
      break;  // EAGAIN: none left (or the client gave up)
    }
  }
}

}  // namespace torfs::tools
