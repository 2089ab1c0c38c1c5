// One address family's DHT node (BEP 5 over IPv4, BEP 32 over IPv6): its UDP socket, routing
// table, token secret, peer store, lookups and rate limits. DhtNode (dht_node.hpp) runs one or
// two of these with the same node id and owns the persisted state; this header is internal to
// engine/net/dht_node.cpp and dht_family.cpp.
//
// Threading: as DhtNode: everything on the io_context thread; callbacks run there, never inside
// the call that asked for them, and never after destruction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "cache/result.hpp"
#include "engine/endpoint.hpp"
#include "engine/krpc.hpp"
#include "engine/net/dht_node.hpp"

namespace torfs {

class DhtFamily {
 public:
  // `config.listen` is ignored (start() gets the address); the bootstrap entries of the other
  // family are skipped and host names resolve to this family's addresses only.
  DhtFamily(boost::asio::io_context& io, const DhtConfig& config, const dht::NodeId& self, bool v6);
  ~DhtFamily();
  DhtFamily(const DhtFamily&) = delete;
  DhtFamily& operator=(const DhtFamily&) = delete;

  // Binds `bind` (of this family; an IPv6 socket is IPv6-only so that an IPv4 sibling can have
  // the same port), then serves and bootstraps. `persisted` nodes of this family seed lookups
  // while the table is small.
  Result<void> start(const Endpoint& bind, std::vector<dht::NodeInfo> persisted);
  // Links two families of one DhtNode (either may be destroyed first): each answers `want`
  // for the other's family from the other's table, asks for both families in its queries and
  // hands nodes of the other family to it while the other's table is small.
  static void pair(DhtFamily& a, DhtFamily& b);
  // Called every 10 minutes while running (DhtNode saves the state of all families).
  void set_periodic_save(std::function<void()> save);

  bool v6() const;
  std::uint16_t port() const;  // 0 before start()
  bool running() const;
  // As DhtNode::get_peers, on this family's network only.
  void get_peers(const Sha1Hash& info_hash, std::uint16_t announce_port,
                 std::function<void(std::vector<Endpoint>)> on_peers, std::function<void()> done);
  void add_node(const Endpoint& node);  // ignored unless of this family
  std::vector<dht::NodeInfo> confirmed_nodes() const;
  std::size_t routing_table_size() const;
  DhtStats stats() const;
  void stop();  // idempotent; running lookups' done() is posted

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace torfs
