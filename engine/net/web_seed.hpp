// WebSeedConnection: one keep-alive HTTP(S)/1.1 connection to a web seed (BEP 19) that fetches
// byte ranges of the torrent's files with Range requests. Engine thread only. Boost.Beast stays
// in web_seed.cpp (pimpl).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/result.hpp"
#include "engine/web_seed_proto.hpp"

namespace boost::asio {
class io_context;
}

namespace torfs {

class RateLimiter;

struct WebSeedOptions {
  std::chrono::milliseconds connect_timeout{10'000};  // DNS + TCP connect + TLS handshake
  // Sending a request and receiving its header; then again for each 64 KiB of body.
  std::chrono::milliseconds request_timeout{30'000};
  int max_redirects = 5;  // per request; a loop is an error
  std::string ca_file;    // extra PEM CA file trusted for https (besides the system CAs)
  RateLimiter* download_limit = nullptr;  // session-wide; must outlive the connection's use
};

// The outcome of a failed fetch: the error (naming the URL and what went wrong) and the final
// HTTP status when the server answered with an unacceptable one (0 for network/protocol errors).
struct WebSeedFailure {
  Error error;
  unsigned status = 0;
};

class WebSeedConnection : public std::enable_shared_from_this<WebSeedConnection> {
 public:
  using Buffer = std::shared_ptr<char[]>;
  // Called once per fetch on the engine thread: empty failure = every request succeeded.
  using Done = std::function<void(std::optional<WebSeedFailure>)>;
  // Called as body bytes arrive: `received` new body bytes; the buffer is complete from its
  // start up to `filled` (requests are contiguous and filled in order; pad counts as filled).
  using Progress = std::function<void(std::size_t received, std::uint64_t filled)>;

  WebSeedConnection(boost::asio::io_context& io, WebSeedOptions options);
  ~WebSeedConnection();
  WebSeedConnection(const WebSeedConnection&) = delete;
  WebSeedConnection& operator=(const WebSeedConnection&) = delete;

  // Fetches `requests` in order, each into `buffer` at its buffer_offset (pad requests are
  // zero-filled), reusing the connection while the server keeps it alive and following
  // redirects. Every response is validated (web_seed::check_response) and its body must be
  // exactly the requested length. `progress` reports bytes as they arrive. Requires
  // !busy(); `buffer` must hold every request. `done` is called exactly once, unless close()
  // is called first: then never.
  void fetch(std::vector<web_seed::FileRequest> requests, Buffer buffer, Progress progress,
             Done done);
  bool busy() const;
  // Cancels the fetch under way (its `done` is dropped) and closes the connection; no
  // callback runs after this returns. Idempotent.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torfs
