// A mainline DHT node (BEP 5) on the engine's io_context: one UDP socket per address family.
// On an IPv4 address it is an IPv4 node; on a specific IPv6 address an IPv6 node (BEP 32); on
// the unspecified IPv6 address "[::]" (dual-stack) both, with the same node id, each with its
// own routing table, token secret and peer store (engine/net/dht_family.hpp). Lookups run on
// every family; queries carry BEP 32 "want" for the families we run and honour it in others'.
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
  // "ip:port" (IPv4 or [IPv6]); the address families of the node follow it (see above). With
  // "[::]:P" the IPv4 node binds 0.0.0.0:P and the IPv6 node [::]:P (IPv6-only); with port 0
  // the IPv6 node tries the IPv4 node's port first.
  std::string listen = "0.0.0.0:0";
  // "[::]:P" runs the IPv4 node too. An IPv6 node that cannot bind there is left out (the IPv4
  // one still runs); on a specific IPv6 address it is an error.
  bool dual_stack = true;
  // "host:port" entry points, resolved at start(); each goes to the node of its family.
  std::vector<std::string> bootstrap = {"router.bittorrent.com:6881", "dht.transmissionbt.com:6881",
                                        "router.utorrent.com:6881"};
  // Persisted node id + both families' routing tables; empty = none. Written by stop() and
  // every 10 minutes.
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
  // Bound UDP port (0 before start()): the IPv4 node's when there is one.
  std::uint16_t port() const;
  // The port of the node of that family; 0 when it does not run.
  std::uint16_t port(bool v6) const;
  // The node id (random, or the persisted one once start() loaded it).
  Sha1Hash id() const;

  // Iterative get_peers lookup on each family (alpha = 3 queries in flight, converges when the
  // k = 8 closest live nodes answered, at most 200 queries). `on_peers` may run several times
  // with new (deduplicated) peers, then `done` runs once, when every family's lookup is over. With
  // announce_port != 0, announce_peer goes to the k closest nodes that gave a token. Peers
  // announced to this node itself are reported too. Callbacks never run inside this call. After
  // stop(), done() runs at once.
  void get_peers(const Sha1Hash& info_hash, std::uint16_t announce_port,
                 std::function<void(std::vector<Endpoint>)> on_peers, std::function<void()> done);
  // A node heard of elsewhere (e.g. a peer's PORT message): pinged by the node of its family
  // (if that runs), added when it answers.
  void add_node(const Endpoint& node);
  std::size_t routing_table_size() const;  // all families together
  std::size_t routing_table_size(bool v6) const;
  DhtStats stats() const;  // all families together
  // Closes the socket, ends lookups (their done() runs), saves the state file. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace torfs
