#include "engine/net/http_tracker.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "engine/net/http_url.hpp"
#include "engine/net/tracker_resolve.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kReadBufferLimit = 64 * 1024;

using Target = HttpUrl;

struct Reply {
  unsigned status = 0;
  std::string reason;
  std::string location;
  std::string body;
};

Error http_error(const std::string& host, std::string what) {
  return make_error(std::errc::protocol_error, "HTTP tracker " + host + ": " + std::move(what));
}

Error io_error(const std::string& host, std::string_view step,
               const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) {
    return make_error(std::errc::timed_out,
                      "HTTP tracker " + host + ": timed out (" + std::string(step) + ")");
  }
  return Error{static_cast<std::error_code>(ec),
               "HTTP tracker " + host + ": " + std::string(step) + " failed: " + ec.message()};
}

std::string shorten(std::string_view url) {
  return shorten_url(url);
}

Result<Target> parse_target(std::string_view url) {
  return parse_http_url(url, "tracker");
}

// Writes the GET and reads the response. Timeouts come from the tcp_stream's deadline.
template <class Stream>
asio::awaitable<Result<Reply>> exchange(Stream& stream, const Target& t, std::size_t max_body) {
  http::request<http::empty_body> req{http::verb::get, t.target, 11};
  req.set(http::field::host, t.host_header);
  req.set(http::field::user_agent, "torfs/0.1");
  req.set(http::field::accept_encoding, "identity");
  req.set(http::field::connection, "close");
  auto [write_ec, written] =
      co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
  if (write_ec) co_return io_error(t.host, "sending request", write_ec);

  beast::flat_buffer buffer(kReadBufferLimit);
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  parser.header_limit(kHeaderLimit);
  auto [read_ec, read] =
      co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (read_ec == http::error::body_limit) {
    co_return http_error(t.host, "response body exceeds " + std::to_string(max_body) + " bytes");
  }
  if (read_ec) co_return io_error(t.host, "reading response", read_ec);
  auto& res = parser.get();
  Reply reply;
  reply.status = res.result_int();
  reply.reason = std::string(res.reason());
  reply.location = std::string(res[http::field::location]);
  reply.body = std::move(res.body());
  co_return reply;
}

// Connects `stream` (its deadline already set) to the first of `endpoints` that accepts; Asio's
// range connect when there is no bind address. With one, every attempt needs a socket bound to
// {bind, 0} before connecting (the range connect closes and reopens the socket per endpoint,
// which would lose the bind), so endpoints are tried here one by one, skipping those of the
// other address family. A timeout ends the attempts: the deadline bounds the whole announce.
asio::awaitable<Result<void>> connect(beast::tcp_stream& stream, const Target& t,
                                      const std::vector<tcp::endpoint>& endpoints,
                                      const std::optional<asio::ip::address>& bind) {
  if (!bind) {
    auto [ec, ep] = co_await stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return io_error(t.host, "connecting", ec);
    co_return Result<void>{};
  }
  boost::system::error_code last_ec;
  for (const auto& endpoint : endpoints) {
    if (endpoint.address().is_v4() != bind->is_v4()) continue;
    auto& socket = stream.socket();
    boost::system::error_code ec;
    socket.close(ec);
    socket.open(endpoint.protocol(), ec);
    if (!ec) socket.set_option(tcp::socket::reuse_address(true), ec);
    if (!ec) socket.bind({*bind, 0}, ec);
    if (ec) co_return io_error(t.host, "binding to " + bind->to_string(), ec);
    std::tie(last_ec) =
        co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
    if (!last_ec) co_return Result<void>{};
    if (last_ec == beast::error::timeout) break;
  }
  if (!last_ec) {
    co_return http_error(t.host, std::string("no ") + (bind->is_v4() ? "IPv4" : "IPv6") +
                                     " address to reach from bind address " + bind->to_string());
  }
  co_return io_error(t.host, "connecting from " + bind->to_string(), last_ec);
}

asio::awaitable<Result<Reply>> fetch_once(const Target& t, Clock::time_point deadline,
                                          const TrackerConfig& config) {
  const auto bind = tracker_bind_address(config.bind_address);
  if (!bind) co_return http_error(t.host, bind.error().message);
  auto resolved = co_await resolve_host(t.host, deadline);
  if (!resolved) co_return std::move(resolved).take_error();
  std::vector<tcp::endpoint> endpoints;
  for (const auto& address : *resolved)
    endpoints.emplace_back(address, t.port);

  auto ex = co_await asio::this_coro::executor;
  if (!t.tls) {
    beast::tcp_stream stream(ex);
    stream.expires_at(deadline);
    auto connected = co_await connect(stream, t, endpoints, *bind);
    if (!connected) co_return std::move(connected).take_error();
    co_return co_await exchange(stream, t, config.http_max_body);
  }

  std::optional<asio::ssl::context> ctx;
  if (auto r = init_tls_client(ctx, config.ca_file); !r) {
    co_return http_error(t.host, r.error().message);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ex, *ctx);
  if (auto r = prepare_tls_stream(stream, t.host); !r) {
    co_return http_error(t.host, r.error().message);
  }
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto connected = co_await connect(beast::get_lowest_layer(stream), t, endpoints, *bind);
  if (!connected) co_return std::move(connected).take_error();
  auto [hs_ec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                                 asio::as_tuple(asio::use_awaitable));
  if (hs_ec) co_return io_error(t.host, "TLS handshake", hs_ec);
  co_return co_await exchange(stream, t, config.http_max_body);
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

Result<std::string> redirect_target(const std::string& base, const std::string& location) {
  const auto base_url = boost::urls::parse_uri(base);
  const auto ref = boost::urls::parse_uri_reference(location);
  if (!base_url || !ref) {
    return make_error(std::errc::protocol_error,
                      "malformed redirect Location: " + shorten(location));
  }
  boost::urls::url dest;
  if (!boost::urls::resolve(*base_url, *ref, dest)) {
    return make_error(std::errc::protocol_error,
                      "unresolvable redirect Location: " + shorten(location));
  }
  dest.remove_fragment();
  return std::string(dest.buffer());
}

// The final reply for `url`: redirects followed (bounded, loops refused) within one deadline.
// `host` is the host of the URL that gave the final reply, for error messages.
struct FinalReply {
  std::string host;
  Reply reply;
};

asio::awaitable<Result<FinalReply>> fetch_following_redirects(std::string url,
                                                              TrackerConfig config) {
  const auto deadline = Clock::now() + config.http_timeout;
  std::set<std::string> visited{url};
  for (int redirects = 0;; ++redirects) {
    auto target = parse_target(url);
    if (!target) co_return std::move(target).take_error();
    auto reply = co_await fetch_once(*target, deadline, config);
    if (!reply) co_return std::move(reply).take_error();
    if (is_redirect(reply->status) && !reply->location.empty()) {
      if (redirects >= config.http_max_redirects) {
        co_return http_error(
            target->host, "more than " + std::to_string(config.http_max_redirects) + " redirects");
      }
      auto next = redirect_target(url, reply->location);
      if (!next) co_return std::move(next).take_error();
      if (!visited.insert(*next).second) {
        co_return http_error(target->host, "redirect loop at " + shorten(*next));
      }
      url = std::move(*next);
      continue;
    }
    co_return FinalReply{target->host, std::move(*reply)};
  }
}

Error status_error(const FinalReply& r) {
  return http_error(r.host, "HTTP status " + std::to_string(r.reply.status) + " " +
                                r.reply.reason.substr(0, 100));
}

}  // namespace

asio::awaitable<Result<AnnounceResponse>> http_announce(std::string url, TrackerConfig config) {
  auto result = co_await fetch_following_redirects(std::move(url), std::move(config));
  if (!result) co_return std::move(result).take_error();
  auto parsed = parse_http_announce_response(result->reply.body);
  if (result->reply.status == 200) co_return parsed;
  // Some trackers send their `failure reason` with an error status; prefer that text.
  if (!parsed && parsed.error().code == std::make_error_code(std::errc::connection_refused)) {
    co_return parsed;
  }
  co_return status_error(*result);
}

Result<std::string> http_redirect_target(const std::string& base, const std::string& location) {
  return redirect_target(base, location);
}

asio::awaitable<Result<std::string>> http_get(std::string url, TrackerConfig config) {
  auto result = co_await fetch_following_redirects(std::move(url), std::move(config));
  if (!result) co_return std::move(result).take_error();
  if (result->reply.status == 200) co_return std::move(result->reply.body);
  co_return status_error(*result);
}

}  // namespace torfs
