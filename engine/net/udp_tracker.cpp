#include "engine/net/udp_tracker.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/url/parse.hpp>
#include <optional>
#include <random>

#include "engine/net/tracker_resolve.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

std::uint32_t random_transaction_id() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<std::uint32_t>(rng());
}

struct UdpTarget {
  std::string host;
  std::uint16_t port = 0;
  std::string url_data;  // BEP 41: path and query
};

Result<UdpTarget> parse_udp_url(std::string_view url) {
  const auto u = boost::urls::parse_uri(url);
  if (!u || u->host_address().empty() || !u->has_port() || u->port_number() == 0) {
    return make_error(std::errc::invalid_argument,
                      "malformed UDP tracker URL (needs udp://host:port): " + std::string(url));
  }
  UdpTarget t{u->host_address(), u->port_number(), std::string(u->encoded_path())};
  if (u->has_query()) t.url_data += "?" + std::string(u->encoded_query());
  return t;
}

// Sends `request` to `to`, then waits until `until` for a reply from `to` that `parse` does not
// reject as foreign (other sender, other transaction id). nullopt: nothing arrived in time.
template <class T, class Parse>
asio::awaitable<std::optional<Result<T>>> exchange(udp::socket& socket, const udp::endpoint& to,
                                                   std::span<const std::uint8_t> request,
                                                   Clock::time_point until, Parse parse,
                                                   const std::string& name) {
  auto [send_ec, sent] = co_await socket.async_send_to(asio::buffer(request.data(), request.size()),
                                                       to, asio::as_tuple(asio::use_awaitable));
  if (send_ec) {
    co_return Result<T>(Error{static_cast<std::error_code>(send_ec),
                              "UDP tracker " + name + ": send failed: " + send_ec.message()});
  }
  std::array<std::uint8_t, 8192> buffer;
  asio::steady_timer timer(socket.get_executor());
  for (;;) {
    timer.expires_at(until);
    udp::endpoint sender;
    auto which = co_await (socket.async_receive_from(asio::buffer(buffer), sender,
                                                     asio::as_tuple(asio::use_awaitable)) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (which.index() == 1) co_return std::nullopt;
    auto [ec, n] = std::get<0>(which);
    if (ec == asio::error::operation_aborted) co_return std::nullopt;
    if (ec) {
      co_return Result<T>(Error{static_cast<std::error_code>(ec),
                                "UDP tracker " + name + ": receive failed: " + ec.message()});
    }
    if (sender != to) continue;
    Result<T> r = parse(std::span<const std::uint8_t>(buffer.data(), n));
    if (!r.ok() && is_foreign_udp_packet(r.error())) continue;
    co_return r;
  }
}

Error tracker_error(const std::string& name, Error e) {
  e.message = "UDP tracker " + name + ": " + e.message;
  return e;
}

}  // namespace

asio::awaitable<Result<AnnounceResponse>> udp_announce(std::string url, AnnounceParams params,
                                                       TrackerConfig config,
                                                       std::shared_ptr<UdpConnection> connection) {
  const auto deadline = Clock::now() + config.udp_total_timeout;
  auto target = parse_udp_url(url);
  if (!target) co_return std::move(target).take_error();
  const std::string name = target->host + ":" + std::to_string(target->port);
  auto bind = tracker_bind_address(config.bind_address);
  if (!bind) co_return tracker_error(name, std::move(bind).take_error());
  auto resolved = co_await resolve_host(target->host, deadline);
  if (!resolved) co_return tracker_error(name, std::move(resolved).take_error());
  // IPv4 is preferred, unless a bind address fixes the family.
  const bool want_v4 = *bind ? (*bind)->is_v4() : true;
  auto chosen = std::find_if(resolved->begin(), resolved->end(),
                             [&](const asio::ip::address& a) { return a.is_v4() == want_v4; });
  if (chosen == resolved->end()) {
    if (*bind) {
      co_return make_error(std::errc::address_family_not_supported,
                           "UDP tracker " + name + ": no " + (want_v4 ? "IPv4" : "IPv6") +
                               " address to reach from bind address " + (*bind)->to_string());
    }
    chosen = resolved->begin();
  }
  const udp::endpoint to(*chosen, target->port);
  const bool v6 = to.address().is_v6();

  udp::socket socket(co_await asio::this_coro::executor);
  boost::system::error_code open_ec;
  socket.open(to.protocol(), open_ec);
  if (open_ec) {
    co_return tracker_error(name, Error{static_cast<std::error_code>(open_ec),
                                        "cannot open socket: " + open_ec.message()});
  }
  if (*bind) {
    boost::system::error_code bind_ec;
    socket.bind({**bind, 0}, bind_ec);
    if (bind_ec) {
      co_return tracker_error(
          name, Error{static_cast<std::error_code>(bind_ec),
                      "cannot bind to " + (*bind)->to_string() + ": " + bind_ec.message()});
    }
  }

  for (int attempt = 0;; ++attempt) {
    const auto now = Clock::now();
    if (attempt > config.udp_max_retries || now >= deadline) {
      co_return make_error(std::errc::timed_out, "UDP tracker " + name + ": no reply after " +
                                                     std::to_string(attempt) + " attempts");
    }
    const auto wait = config.udp_base_timeout * (1LL << std::min(attempt, 30));
    const auto until = std::min<Clock::time_point>(now + wait, deadline);
    if (!connection->valid(now)) {
      const std::uint32_t tid = random_transaction_id();
      const auto request = build_udp_connect(tid);
      auto reply = co_await exchange<UdpConnectResponse>(
          socket, to, request, until,
          [tid](std::span<const std::uint8_t> p) { return parse_udp_connect(p, tid); }, name);
      if (!reply) continue;
      if (!*reply) co_return tracker_error(name, std::move(*reply).take_error());
      connection->id = (*reply)->connection_id;
      connection->expires = Clock::now() + config.udp_connection_lifetime;
    }
    const std::uint32_t tid = random_transaction_id();
    const auto request = build_udp_announce(connection->id, tid, params, target->url_data);
    auto reply = co_await exchange<AnnounceResponse>(
        socket, to, request, until,
        [tid, v6](std::span<const std::uint8_t> p) { return parse_udp_announce(p, tid, v6); },
        name);
    if (!reply) continue;
    if (!*reply) {
      connection->expires = {};  // e.g. "connection id expired": reconnect next time
      co_return tracker_error(name, std::move(*reply).take_error());
    }
    co_return std::move(*reply);
  }
}

}  // namespace torfs
