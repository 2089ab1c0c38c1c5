#include "engine/net/web_seed.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cstring>
#include <optional>
#include <set>

#include "engine/net/http_tracker.hpp"
#include "engine/net/http_url.hpp"
#include "engine/net/rate_limiter.hpp"
#include "engine/net/tracker_resolve.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kChunk = 64 * 1024;  // body bytes per read (and per rate-limit payment)

using Url = HttpUrl;

std::string shorten(std::string_view url) {
  return shorten_url(url, 160);
}

WebSeedFailure failure(const std::string& url, std::string what, unsigned status = 0) {
  return {make_error(std::errc::protocol_error, shorten(url) + ": " + std::move(what)), status};
}

WebSeedFailure io_failure(const std::string& url, std::string_view step,
                          const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) {
    return {make_error(std::errc::timed_out, shorten(url) + ": timed out " + std::string(step)), 0};
  }
  return {Error{static_cast<std::error_code>(ec),
                shorten(url) + ": " + std::string(step) + " failed: " + ec.message()},
          0};
}

std::optional<Url> parse_url(std::string_view text) {
  auto url = parse_http_url(text, "web seed");
  if (!url) return std::nullopt;
  return std::move(*url);
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

struct WebSeedConnection::Impl {
  Impl(asio::io_context& io, WebSeedOptions options) : io(io), options(std::move(options)) {
    // Beast sizes each socket read by the buffer's free capacity (at least 512 bytes): without
    // room reserved up front, a body arrives in 512-byte reads (~2 million syscalls a GiB).
    buffer.reserve(kChunk);
  }

  asio::io_context& io;
  WebSeedOptions options;
  bool busy = false;
  bool closed = false;
  // The open connection, if any, and where it goes.
  std::optional<beast::tcp_stream> plain;
  std::optional<asio::ssl::context> tls_context;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  bool connected_tls = false;
  std::string connected_host;
  std::uint16_t connected_port = 0;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  void disconnect() {
    boost::system::error_code ignored;
    if (plain) plain->socket().close(ignored);
    if (tls) beast::get_lowest_layer(*tls).socket().close(ignored);
    plain.reset();
    tls.reset();
    connected_host.clear();
    buffer.clear();
  }

  asio::awaitable<std::optional<WebSeedFailure>> connect(const Url& url, const std::string& text);
  asio::awaitable<std::optional<WebSeedFailure>> fetch_one(const web_seed::FileRequest& request,
                                                           char* dest, const Progress&);
  template <class Stream>
  asio::awaitable<std::optional<WebSeedFailure>> exchange(
      Stream& stream, const Url& url, const std::string& text, const web_seed::FileRequest& req,
      char* dest, const Progress& progress, std::string& location, bool& header_received);
  asio::awaitable<std::optional<WebSeedFailure>> run(std::vector<web_seed::FileRequest> requests,
                                                     Buffer buffer, Progress progress);
};

asio::awaitable<std::optional<WebSeedFailure>> WebSeedConnection::Impl::connect(
    const Url& url, const std::string& text) {
  if (!connected_host.empty() && connected_host == url.host && connected_port == url.port &&
      connected_tls == url.tls) {
    co_return std::nullopt;
  }
  disconnect();
  const auto deadline = Clock::now() + options.connect_timeout;
  auto resolved = co_await resolve_host(url.host, deadline);
  if (!resolved) co_return WebSeedFailure{resolved.error(), 0};
  std::vector<tcp::endpoint> endpoints;
  for (const auto& address : *resolved)
    endpoints.emplace_back(address, url.port);
  if (url.tls) {
    if (auto r = init_tls_client(tls_context, options.ca_file); !r) {
      co_return failure(text, "setting up TLS: " + r.error().message);
    }
    tls.emplace(io, *tls_context);
    if (auto r = prepare_tls_stream(*tls, url.host); !r) {
      co_return failure(text, r.error().message);
    }
  } else {
    plain.emplace(io);
  }
  lowest().expires_at(deadline);
  auto [ec, ep] = co_await lowest().async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return io_failure(text, "connecting", ec);
  boost::system::error_code ignored;
  lowest().socket().set_option(tcp::no_delay(true), ignored);
  if (tls) {
    auto [hs_ec] = co_await tls->async_handshake(asio::ssl::stream_base::client,
                                                 asio::as_tuple(asio::use_awaitable));
    if (hs_ec) co_return io_failure(text, "in the TLS handshake", hs_ec);
  }
  connected_tls = url.tls;
  connected_host = url.host;
  connected_port = url.port;
  co_return std::nullopt;
}

// One request/response on an open connection. A redirect sets `location` (the connection is
// dropped: its body is not worth reading). Otherwise the body lands in dest.
template <class Stream>
asio::awaitable<std::optional<WebSeedFailure>> WebSeedConnection::Impl::exchange(
    Stream& stream, const Url& url, const std::string& text, const web_seed::FileRequest& req,
    char* dest, const Progress& progress, std::string& location, bool& header_received) {
  lowest().expires_after(options.request_timeout);
  http::request<http::empty_body> out{http::verb::get, url.target, 11};
  out.set(http::field::host, url.host_header);
  out.set(http::field::user_agent, "torfs/0.1");
  out.set(http::field::accept_encoding, "identity");
  out.set(http::field::range, web_seed::range_header(req));
  auto [write_ec, written] =
      co_await http::async_write(stream, out, asio::as_tuple(asio::use_awaitable));
  if (write_ec) co_return io_failure(text, "sending the request", write_ec);

  http::response_parser<http::buffer_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(req.length);
  auto [head_ec, head_n] =
      co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (head_ec) co_return io_failure(text, "reading the response header", head_ec);
  header_received = true;
  auto& res = parser.get();
  const unsigned status = res.result_int();
  if (is_redirect(status) && res.find(http::field::location) != res.end()) {
    location = std::string(res[http::field::location]);
    disconnect();
    co_return std::nullopt;
  }
  web_seed::ResponseHead head;
  head.status = status;
  if (res.find(http::field::content_range) != res.end())
    head.content_range = res[http::field::content_range];
  if (auto n = parser.content_length()) head.content_length = *n;
  if (auto ok = web_seed::check_response(head, req); !ok) {
    disconnect();
    co_return failure(text, ok.error().message, status);
  }
  std::uint64_t got = 0;
  while (!parser.is_done() && got < req.length) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, req.length - got));
    res.body().data = dest + got;
    res.body().size = want;
    res.body().more = true;
    // Per chunk: a slow (or rate-limited) body is fine as long as it keeps coming.
    lowest().expires_after(options.request_timeout);
    auto [ec, n] =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec == http::error::body_limit) {
      disconnect();
      co_return failure(text,
                        "body longer than the " + std::to_string(req.length) + " bytes asked for");
    }
    if (ec && ec != http::error::need_buffer) co_return io_failure(text, "reading the body", ec);
    if (closed) co_return failure(text, "closed");  // no callback after close()
    const std::size_t chunk = want - res.body().size;
    got += chunk;
    if (chunk > 0) {
      progress(chunk, req.buffer_offset + got);
      if (options.download_limit) co_await options.download_limit->acquire(chunk);
    }
  }
  if (got != req.length || !parser.is_done()) {
    disconnect();
    co_return failure(text, "body of " + std::to_string(got) + (parser.is_done() ? "" : "+") +
                                " bytes, expected " + std::to_string(req.length));
  }
  if (!parser.keep_alive()) disconnect();
  co_return std::nullopt;
}

asio::awaitable<std::optional<WebSeedFailure>> WebSeedConnection::Impl::fetch_one(
    const web_seed::FileRequest& req, char* dest, const Progress& progress) {
  std::string text = req.url;
  std::set<std::string> visited{text};
  for (int redirects = 0;; ++redirects) {
    const auto url = parse_url(text);
    if (!url) co_return failure(text, "not a usable http(s) URL");
    const bool reused = connected_host == url->host && connected_port == url->port &&
                        connected_tls == url->tls;  // (connected_host is empty when closed)
    if (auto f = co_await connect(*url, text)) {
      disconnect();
      co_return f;
    }
    std::string location;
    bool header_received = false;
    std::optional<WebSeedFailure> f;
    if (tls) {
      f = co_await exchange(*tls, *url, text, req, dest, progress, location, header_received);
    } else {
      f = co_await exchange(*plain, *url, text, req, dest, progress, location, header_received);
    }
    if (f && reused && !header_received && !closed) {
      // The server may have closed the idle keep-alive connection: once more on a new one
      // (only once: after disconnect() the connection is not a reused one).
      disconnect();
      --redirects;
      continue;
    }
    if (f) {
      disconnect();
      co_return f;
    }
    if (location.empty()) co_return std::nullopt;
    if (redirects >= options.max_redirects) {
      co_return failure(text, "more than " + std::to_string(options.max_redirects) + " redirects");
    }
    auto next = http_redirect_target(text, location);
    if (!next) co_return failure(text, next.error().message);
    if (!visited.insert(*next).second) co_return failure(text, "redirect loop at " + *next);
    text = std::move(*next);
  }
}

asio::awaitable<std::optional<WebSeedFailure>> WebSeedConnection::Impl::run(
    std::vector<web_seed::FileRequest> requests, Buffer buffer, Progress progress) {
  for (const auto& req : requests) {
    char* dest = buffer.get() + req.buffer_offset;
    if (req.pad || req.length == 0) {
      std::memset(dest, 0, req.length);
      if (!closed) progress(0, req.buffer_offset + req.length);
      continue;
    }
    if (closed) break;
    if (auto f = co_await fetch_one(req, dest, progress)) co_return f;
  }
  co_return std::nullopt;
}

WebSeedConnection::WebSeedConnection(asio::io_context& io, WebSeedOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {}

WebSeedConnection::~WebSeedConnection() = default;

bool WebSeedConnection::busy() const {
  return impl_->busy;
}

void WebSeedConnection::fetch(std::vector<web_seed::FileRequest> requests, Buffer buffer,
                              Progress progress, Done done) {
  impl_->busy = true;
  asio::co_spawn(
      impl_->io, impl_->run(std::move(requests), std::move(buffer), std::move(progress)),
      [self = shared_from_this(), done = std::move(done)](std::exception_ptr e,
                                                          std::optional<WebSeedFailure> result) {
        self->impl_->busy = false;
        if (self->impl_->closed) return;
        if (e) {
          self->impl_->disconnect();
          result = WebSeedFailure{make_error(std::errc::io_error, "web seed fetch failed"), 0};
        }
        done(std::move(result));
      });
}

void WebSeedConnection::close() {
  impl_->closed = true;
  if (!impl_->busy) return impl_->disconnect();
  // A fetch is suspended on the streams: only close the sockets (its operations end with
  // operation_aborted); the coroutine drops the streams itself once it is no longer inside them.
  boost::system::error_code ignored;
  if (impl_->plain) impl_->plain->socket().close(ignored);
  if (impl_->tls) beast::get_lowest_layer(*impl_->tls).socket().close(ignored);
}

}  // namespace torfs
