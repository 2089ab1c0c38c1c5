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
// Protocol: the client sends one line, "status\n" (at most kMaxRequest bytes, within the
// request timeout, kRequestTimeout by default); the server answers "ok\n" followed by the JSON
// status document, or "error <message>\n", and closes the connection. The whole reply must be
// taken within the reply timeout (kReplyTimeout) or the server drops the connection.
//
// Concurrency: one server thread multiplexes up to kMaxConnections connections with poll(), so
// a client that stalls (sends nothing, or never reads its reply) costs only its own slot until
// its deadline. While every slot is taken the server stops accepting: newcomers wait in the
// listen backlog (kMaxConnections deep) until a slot frees, and a client whose connect() finds
// the backlog full too gives up after its own timeout.
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
inline constexpr std::size_t kMaxConnections = 16;

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

// Limits of one ControlServer; the defaults are the protocol's (tests shorten or lengthen them).
struct ControlServerOptions {
  std::chrono::milliseconds request_timeout = kRequestTimeout;  // from accept to the full line
  std::chrono::milliseconds reply_timeout = kReplyTimeout;      // to hand over the whole reply
  std::size_t max_connections = kMaxConnections;                // served at once (at least 1)
};

// Serves "status" requests on its own thread until stop() or destruction, many clients at
// once (see Concurrency above).
class ControlServer {
 public:
  // Called on the server thread, once per well-formed "status" request, when its line has
  // arrived (other connections wait meanwhile, so it should not block for long); must be
  // thread-safe with respect to the rest of the program. An exception it throws becomes an
  // "error" reply.
  using StatusFn = std::function<std::string()>;

  // Binds the socket for `mountpoint` (canonical) in `dir` (default control_dir()). A stale
  // socket left by a dead mount is replaced; a live one (another process answers) is an
  // error (std::errc::address_in_use), as is an unsafe directory or an over-long path.
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& mountpoint,
                                                      StatusFn status_json,
                                                      std::filesystem::path dir = {},
                                                      ControlServerOptions options = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops the thread and unlinks the socket if it is still ours. Returns promptly whatever
  // the clients do: connections still open (stalled or mid-reply) are closed without waiting
  // for them; only a status callback already running is waited for. Idempotent. Not to be
  // called from the status callback.
  void stop();
  const std::filesystem::path& socket_path() const { return path_; }

 private:
  ControlServer() = default;
  void serve();

  struct State;
  std::unique_ptr<State> state_;
  std::filesystem::path path_;
  StatusFn status_;
};

// --- client side (tools/control_client.cpp) ---

// Asks the server on `socket` for its status document and returns the JSON text. Errors:
// no_such_file_or_directory (no socket: nothing mounted there), connection_refused (a stale
// socket: its mount is gone), permission_denied (not our socket, or the server refused us),
// timed_out (also when the server is so busy that connect() cannot get in before `timeout`),
// and protocol_error for a malformed or oversized reply.
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
}  // namespace control_detail

}  // namespace torfs::tools
