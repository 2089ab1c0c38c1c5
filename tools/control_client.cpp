// The client side of the control channel (see tools/control_server.hpp).
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "cache/safe_fs.hpp"
#include "tools/control_server.hpp"
#include "tools/status_report.hpp"

namespace torfs::tools {
namespace {

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The reply may hold the whole document; StatusParseLimits bounds it the same way.
constexpr std::size_t kMaxReply = StatusParseLimits{}.max_bytes + 1024;

Error errno_error(int err, const std::string& what) {
  return make_errno_error(err, what + ": " + std::strerror(err));
}

// True once `fd` is ready for `events` (POLLIN/POLLOUT) or hung up; false when `deadline`
// passes first or poll() fails.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (n < 0 && errno != EINTR) return false;
    if (n > 0 && (p.revents & (events | POLLHUP | POLLERR))) return true;
  }
}

// Connects within `timeout`: a blocking connect() to a Unix socket whose server has every
// slot taken and a full backlog waits for room, for at most the send timeout.
Result<UniqueFd> connect_to(const stdfs::path& socket, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.native().size() >= sizeof addr.sun_path) {
    return make_error(std::errc::filename_too_long, socket.string() + " is too long a path");
  }
  std::memcpy(addr.sun_path, socket.c_str(), socket.native().size() + 1);
  struct stat st {};
  if (::lstat(socket.c_str(), &st) != 0) return errno_error(errno, socket.string());
  if (!S_ISSOCK(st.st_mode)) {
    return make_error(std::errc::not_a_directory, socket.string() + " is not a socket");
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return make_error(std::errc::permission_denied,
                      "permission denied: " + socket.string() + " belongs to another user");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_error(errno, "socket");
  // At least 1 ms: a zero SO_SNDTIMEO would mean no limit at all.
  const auto us = std::max<std::int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(timeout).count(), 1000);
  const timeval limit{static_cast<time_t>(us / 1'000'000),
                      static_cast<suseconds_t>(us % 1'000'000)};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
    return errno_error(errno, "setsockopt SO_SNDTIMEO");
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == EAGAIN || err == EINPROGRESS) {
      return make_error(std::errc::timed_out,
                        "the mount at " + socket.string() + " is too busy to take the request");
    }
    if (err == EACCES || err == EPERM) {
      return make_error(std::errc::permission_denied, "permission denied: " + socket.string());
    }
    return errno_error(err, "cannot connect to " + socket.string());
  }
  if (!control_detail::peer_is_trusted(fd.get())) {
    return make_error(std::errc::permission_denied,
                      "permission denied: " + socket.string() + " is served by another user");
  }
  return fd;
}

Result<void> send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return errno_error(errno, "send");
    if (!wait_fd(fd, POLLOUT, deadline)) {
      return make_error(std::errc::timed_out, "the mount did not take the request in time");
    }
  }
  return {};
}

Result<std::string> receive_all(int fd, Clock::time_point deadline) {
  std::string reply;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return reply;
    if (n > 0) {
      reply.append(buf, static_cast<std::size_t>(n));
      if (reply.size() > kMaxReply) {
        return make_error(std::errc::protocol_error,
                          "the mount's reply is over " + std::to_string(kMaxReply) + " bytes");
      }
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) return errno_error(errno, "recv");
    if (!wait_fd(fd, POLLIN, deadline)) {
      return make_error(std::errc::timed_out, "the mount did not answer in time");
    }
  }
}

}  // namespace

Result<std::string> request_status(const stdfs::path& socket, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto fd = connect_to(socket, timeout);
  if (!fd) return std::move(fd).take_error();
  if (auto sent = send_all(fd->get(), "status\n", deadline); !sent) {
    return std::move(sent).take_error();
  }
  auto reply = receive_all(fd->get(), deadline);
  if (!reply) return reply;
  if (reply->rfind("ok\n", 0) == 0) return reply->substr(3);
  if (reply->rfind("error ", 0) == 0) {
    std::string message = reply->substr(6, reply->find('\n') - 6);
    const bool denied = message.rfind("permission denied", 0) == 0;
    return make_error(denied ? std::errc::permission_denied : std::errc::protocol_error,
                      std::move(message));
  }
  return make_error(std::errc::protocol_error,
                    "unexpected reply from " + socket.string() + " (not a torfs mount?)");
}

Result<std::vector<ControlAnswer>> query_all_mounts(const stdfs::path& dir) {
  std::vector<ControlAnswer> answers;
  if (auto checked = check_control_dir(dir); !checked) {
    if (checked.error().code == std::errc::no_such_file_or_directory) return answers;
    return std::move(checked).take_error();
  }
  std::vector<stdfs::path> sockets;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".sock") sockets.push_back(entry.path());
  }
  if (ec) return errno_error(ec.value(), "cannot list " + dir.string());
  std::sort(sockets.begin(), sockets.end());
  for (const stdfs::path& socket : sockets) {
    auto json = request_status(socket);
    if (!json && json.error().code == std::errc::connection_refused) {
      ::unlink(socket.c_str());  // its mount died without cleaning up
      continue;
    }
    if (!json && json.error().code == std::errc::no_such_file_or_directory) continue;
    answers.push_back({socket, std::move(json)});
  }
  return answers;
}

}  // namespace torfs::tools
