// UDP tracker client (BEP 15, with BEP 41 URL data). Internal to engine/net.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cache/result.hpp"
#include "engine/net/tracker_manager.hpp"
#include "engine/tracker_proto.hpp"

namespace torfs {

// A connection id obtained from one tracker, reused until it expires (BEP 15: one minute).
struct UdpConnection {
  std::uint64_t id = 0;
  std::chrono::steady_clock::time_point expires{};
  bool valid(std::chrono::steady_clock::time_point now) const { return now < expires; }
};

// Announces to `url` (udp://host:port[/path?query]): connect (unless `connection` is still
// valid), then announce; retransmits after udp_base_timeout * 2^n (n up to udp_max_retries),
// all within udp_total_timeout. Replies from another address or with a foreign transaction
// id are ignored. An error packet (action 3) is returned as an Error with its message and
// invalidates the connection id. The announce goes over IPv4 when the host has an IPv4
// address, else over IPv6 (then peers are 18-byte entries).
boost::asio::awaitable<Result<AnnounceResponse>> udp_announce(
    std::string url, AnnounceParams params, TrackerConfig config,
    std::shared_ptr<UdpConnection> connection);

}  // namespace torfs
