// Helpers for the DhtNode tests on loopback (dht_node_test.cpp, dht_ipv6_test.cpp): running the
// io_context until a condition holds, collecting a lookup's results, and a raw UDP client that
// talks KRPC at a node by hand.
#pragma once

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cache/sha1.hpp"
#include "engine/krpc.hpp"
#include "engine/net/dht_node.hpp"

namespace torfs {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using namespace std::chrono_literals;

inline std::string ip_n(int n) {
  return "127.0.0." + std::to_string(n);
}

inline DhtConfig local_config(int ip, std::vector<std::string> bootstrap = {}) {
  DhtConfig c;
  c.listen = ip_n(ip) + ":0";
  c.bootstrap = std::move(bootstrap);
  c.query_timeout = 500ms;
  return c;
}

// Runs `io` until `pred` holds or `limit` passes; returns pred().
template <class Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::seconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < end) {
    io.run_for(20ms);
    if (io.stopped()) io.restart();
  }
  return pred();
}

// Every node's routing table holds at least `n` nodes.
inline bool tables_hold(const std::vector<std::unique_ptr<DhtNode>>& nodes, std::size_t n) {
  for (const auto& node : nodes) {
    if (node->routing_table_size() < n) return false;
  }
  return true;
}

// Announces stored by all the nodes together.
inline std::uint64_t announces_stored(const std::vector<std::unique_ptr<DhtNode>>& nodes) {
  std::uint64_t stored = 0;
  for (const auto& node : nodes)
    stored += node->stats().announces_stored;
  return stored;
}

inline Sha1Hash hash_of(const std::string& s) {
  return sha1(s);
}

struct LookupResult {
  std::set<Endpoint> peers;
  bool done = false;
  int done_calls = 0;
};

inline std::shared_ptr<LookupResult> lookup(DhtNode& node, const Sha1Hash& h,
                                            std::uint16_t port = 0) {
  auto r = std::make_shared<LookupResult>();
  node.get_peers(
      h, port, [r](std::vector<Endpoint> peers) { r->peers.insert(peers.begin(), peers.end()); },
      [r] {
        r->done = true;
        ++r->done_calls;
      });
  return r;
}

// A raw UDP socket to talk KRPC at a node by hand.
struct RawClient {
  RawClient(asio::io_context& io, int ip) : RawClient(io, ip_n(ip)) {}
  RawClient(asio::io_context& io, const std::string& address)
      : socket(io, udp::endpoint(asio::ip::make_address(address), 0)) {}
  void send(const DhtNode& node, int node_ip, std::string_view bytes) {
    send_to(udp::endpoint(asio::ip::make_address(ip_n(node_ip)), node.port()), bytes);
  }
  void send_to(const udp::endpoint& to, std::string_view bytes) {
    socket.send_to(asio::buffer(bytes.data(), bytes.size()), to);
  }
  // Replies that arrive within `wait` while `io` runs.
  std::vector<std::string> drain(asio::io_context& io, std::chrono::milliseconds wait) {
    std::vector<std::string> out;
    socket.non_blocking(true);
    const auto end = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < end) {
      io.run_for(10ms);
      if (io.stopped()) io.restart();
      for (;;) {
        std::array<char, 9000> buf;
        udp::endpoint from;
        boost::system::error_code ec;
        const std::size_t n = socket.receive_from(asio::buffer(buf), from, 0, ec);
        if (ec) break;
        out.emplace_back(buf.data(), n);
      }
    }
    return out;
  }
  udp::socket socket;
};

inline dht::NodeId client_id(char c) {
  dht::NodeId id;
  id.fill(static_cast<std::uint8_t>(c));
  return id;
}

}  // namespace torfs
