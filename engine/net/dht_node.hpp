// A mainline DHT node (BEP 5) on one UDP socket of the engine's io_context.
//
// Threading: every member function must be called on the io_context thread (or before the
// io_context runs), and every callback runs there. The destructor (and stop()) may be called
// from such a handler; after destruction no callback runs.
//
// The node answers other nodes (ping, find_node, get_peers with tokens, announce_peer into a
// bounded peer store), runs iterative lookups for the engine, keeps its routing table alive
// (pings questionable nodes, refreshes stale buckets) and persists its id and table. Every
// resource a stranger can make it spend is bounded: replies per source IP per second,
// outgoing queries per second, pending transactions, lookups and their fan-out. Malformed
// packets are dropped (queries with a transaction id get a 203 error, within the rate limit);
// nothing is ever sent to port 0 or to our own address.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace boost::asio {
class io_context;
}

namespace torfs {

struct DhtConfig {
  // "ip:port" (IPv4 or [IPv6]); the address family of the node follows it.
  std::string listen = "0.0.0.0:0";
  // "host:port" entry points, resolved at start().
  std::vector<std::string> bootstrap = {"router.bittorrent.com:6881", "dht.transmissionbt.com:6881",
                                        "router.utorrent.com:6881"};
  // Persisted node id + routing table; empty = none. Written by stop() and every 10 minutes.
  std::filesystem::path state_file;
  std::uint32_t max_queries_per_second = 250;        // outgoing; excess waits in a bounded queue
  std::uint32_t max_replies_per_ip_per_second = 20;  // anti-amplification
  std::chrono::milliseconds query_timeout{2000};
};

struct DhtStats {
  std::uint64_t packets_received = 0;
  std::uint64_t malformed_packets = 0;     // dropped: not KRPC, or invalid arguments
  std::uint64_t queries_received = 0;      // answered or refused
  std::uint64_t replies_rate_limited = 0;  // queries left unanswered by the per-IP limit
  std::uint64_t announces_stored = 0;      // announce_peer with a valid token
  std::uint64_t queries_sent = 0;
  std::uint64_t query_timeouts = 0;
  std::uint64_t responses_received = 0;
};

class DhtNode {
 public:
  DhtNode(boost::asio::io_context& io, DhtConfig config);
  ~DhtNode();
  DhtNode(const DhtNode&) = delete;
  DhtNode& operator=(const DhtNode&) = delete;

  // Binds the socket, loads the state file (a missing or corrupt one means a fresh id), starts
  // serving, then resolves the bootstrap hosts and looks up our own id to fill the table.
  Result<void> start();
  // Bound UDP port (0 before start()).
  std::uint16_t port() const;
  // The node id (random, or the persisted one once start() loaded it).
  Sha1Hash id() const;

  // Iterative get_peers lookup (alpha = 3 queries in flight, converges when the k = 8 closest
  // live nodes answered, at most 200 queries). `on_peers` may run several times with new
  // (deduplicated) peers, then `done` runs once. With announce_port != 0, announce_peer goes
  // to the k closest nodes that gave a token. Peers announced to this node itself are
  // reported too. Callbacks never run inside this call. After stop(), done() runs at once.
  void get_peers(const Sha1Hash& info_hash, std::uint16_t announce_port,
                 std::function<void(std::vector<Endpoint>)> on_peers, std::function<void()> done);
  // A node heard of elsewhere (e.g. a peer's PORT message): pinged, added when it answers.
  void add_node(const Endpoint& node);
  std::size_t routing_table_size() const;
  DhtStats stats() const;
  // Closes the socket, ends lookups (their done() runs), saves the state file. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace torfs
