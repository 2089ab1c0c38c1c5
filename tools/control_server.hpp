// The control channel of a running mount: a Unix stream socket that `torfs status` asks.
//
// Where: one socket per mount in the runtime directory
//   $XDG_RUNTIME_DIR/torfs/, else /run/user/<uid>/torfs/ when /run/user/<uid> exists, else
//   /tmp/torfs-<uid>/,
// named after the SHA-1 of the canonical mountpoint (<40 hex>.sock), so a client finds the
// socket of /mnt/t without any registry, and lists every mount by listing the directory.
//
// Security (owner only): the directory is created 0700 and refused when it is a symlink, not
// owned by us, or writable by others; the socket is 0600; and every connection's peer
// credentials (SO_PEERCRED) must be our uid or root, on both sides.
//
// Protocol: the client sends one line, "status\n" (at most kMaxRequest bytes, within
// kRequestTimeout); the server answers "ok\n" followed by the JSON status document, or
// "error <message>\n", and closes the connection.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/result.hpp"

namespace torfs::tools {

inline constexpr std::size_t kMaxRequest = 256;
inline constexpr std::chrono::milliseconds kRequestTimeout{2000};
inline constexpr std::chrono::milliseconds kReplyTimeout{10000};

// The runtime directory above, without touching the filesystem beyond checking whether
// /run/user/<uid> exists.
std::filesystem::path control_dir();
// Creates `dir` (0700) if needed and checks it is ours: not a symlink, owned by our uid, no
// access for group/others (a directory of ours with looser bits is tightened to 0700).
Result<void> ensure_control_dir(const std::filesystem::path& dir);
// Checks an existing `dir` the same way without creating or changing anything. A missing dir
// is std::errc::no_such_file_or_directory.
Result<void> check_control_dir(const std::filesystem::path& dir);
// dir / "<sha1 hex of the mountpoint string>.sock". `mountpoint` must already be canonical.
std::filesystem::path control_socket_path(const std::filesystem::path& dir,
                                          const std::filesystem::path& mountpoint);

// Serves "status" requests on its own thread until stop() or destruction. Requests are
// handled one at a time (each is bounded by the timeouts above).
class ControlServer {
 public:
  // Called on the server thread for every status request; must be thread-safe with respect
  // to the rest of the program. An exception it throws becomes an "error" reply.
  using StatusFn = std::function<std::string()>;

  // Binds the socket for `mountpoint` (canonical) in `dir` (default control_dir()). A stale
  // socket left by a dead mount is replaced; a live one (another process answers) is an
  // error (std::errc::address_in_use), as is an unsafe directory or an over-long path.
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& mountpoint,
                                                      StatusFn status_json,
                                                      std::filesystem::path dir = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops the thread (interrupting a slow client) and unlinks the socket if it is still ours.
  // Idempotent. Not to be called from the status callback.
  void stop();
  const std::filesystem::path& socket_path() const { return path_; }

 private:
  ControlServer() = default;
  void serve();
  void handle(int fd);

  struct State;
  std::unique_ptr<State> state_;
  std::filesystem::path path_;
  StatusFn status_;
};

// --- client side (tools/control_client.cpp) ---

// Asks the server on `socket` for its status document and returns the JSON text. Errors:
// no_such_file_or_directory (no socket: nothing mounted there), connection_refused (a stale
// socket: its mount is gone), permission_denied (not our socket, or the server refused us),
// timed_out, and protocol_error for a malformed or oversized reply.
Result<std::string> request_status(const std::filesystem::path& socket,
                                   std::chrono::milliseconds timeout = kReplyTimeout);

struct ControlAnswer {
  std::filesystem::path socket;
  Result<std::string> json;  // request_status()'s answer
};
// Asks every "*.sock" in `dir` (which must pass check_control_dir; a missing dir means no
// mounts). Sockets whose mount is gone (connection refused) are unlinked and left out.
Result<std::vector<ControlAnswer>> query_all_mounts(const std::filesystem::path& dir);

// Shared by both sides.
namespace control_detail {
// True when the peer of a connected Unix socket runs as our effective uid or as root.
bool peer_is_trusted(int fd);
enum class Ready { ready, timeout, woken, error };
// Waits until `fd` is ready for `events` (POLLIN/POLLOUT), the deadline passes, or `wake_fd`
// (-1: none) becomes readable.
Ready wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline,
              int wake_fd = -1);
}  // namespace control_detail

}  // namespace torfs::tools
