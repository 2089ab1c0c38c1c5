// Host name resolution with a hard deadline, shared by the HTTP and UDP tracker clients.
// Internal to engine/net (includes Boost.Asio).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/result.hpp"

namespace torfs {

// Addresses of `host` (an IPv4/IPv6 literal or a DNS name; IPv4 and IPv6 results both), or an
// Error naming the host after `deadline`. getaddrinfo cannot be interrupted, so the lookup
// runs detached and this coroutine stops waiting for it at the deadline (or when cancelled).
inline boost::asio::awaitable<Result<std::vector<boost::asio::ip::address>>> resolve_host(
    std::string host, std::chrono::steady_clock::time_point deadline) {
  namespace asio = boost::asio;
  using Addresses = std::vector<asio::ip::address>;
  boost::system::error_code parse_ec;
  const auto literal = asio::ip::make_address(host, parse_ec);
  if (!parse_ec) co_return Addresses{literal};

  struct Lookup {
    explicit Lookup(asio::any_io_executor ex) : resolver(ex), timer(ex) {}
    asio::ip::tcp::resolver resolver;
    asio::steady_timer timer;
    boost::system::error_code ec;
    Addresses addresses;
    bool done = false;
  };
  auto lookup = std::make_shared<Lookup>(co_await asio::this_coro::executor);
  lookup->timer.expires_at(deadline);
  lookup->resolver.async_resolve(
      host, "", [lookup](boost::system::error_code ec, asio::ip::tcp::resolver::results_type r) {
        lookup->ec = ec;
        for (const auto& entry : r)
          lookup->addresses.push_back(entry.endpoint().address());
        lookup->done = true;
        lookup->timer.cancel();
      });
  if (!lookup->done) co_await lookup->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!lookup->done) {
    lookup->resolver.cancel();
    co_return make_error(std::errc::timed_out, "resolving " + host + " timed out");
  }
  if (lookup->ec || lookup->addresses.empty()) {
    co_return make_error(
        std::errc::host_unreachable,
        "cannot resolve " + host + ": " + (lookup->ec ? lookup->ec.message() : "no addresses"));
  }
  co_return std::move(lookup->addresses);
}

// TrackerConfig::bind_address as an address: nullopt when empty or unspecified (0.0.0.0, ::),
// which means "let the kernel choose"; an Error when it is not an IP literal.
inline Result<std::optional<boost::asio::ip::address>> tracker_bind_address(
    const std::string& text) {
  if (text.empty()) return std::optional<boost::asio::ip::address>{};
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(text, ec);
  if (ec) {
    return make_error(std::errc::invalid_argument,
                      "tracker bind address '" + text + "' is not an IP address");
  }
  if (address.is_unspecified()) return std::optional<boost::asio::ip::address>{};
  return std::optional<boost::asio::ip::address>{address};
}

}  // namespace torfs
