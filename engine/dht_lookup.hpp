// The iterative lookup of Kademlia / BEP 5 as a pure state machine: which nodes to query next,
// when the lookup has converged, and which nodes gave announce tokens. engine/net/dht_node.cpp
// sends the queries; this class only decides, so it is unit-tested without sockets.
//
// Convergence: a lookup ends when nothing is in flight and the k closest candidates that did
// not fail have all answered (or the query budget is spent). At most `alpha` queries are in
// flight. Candidates are identified by endpoint: bootstrap contacts have no known id until they
// answer (they sort after every known id). Everything is bounded: kMaxLookupCandidates kept
// (the farthest unqueried are dropped), kMaxLookupSeen endpoints remembered.
//
// Not thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/krpc.hpp"

namespace torfs::dht {

inline constexpr std::size_t kLookupAlpha = 3;
inline constexpr std::size_t kMaxLookupQueries = 200;
inline constexpr std::size_t kMaxLookupCandidates = 128;
inline constexpr std::size_t kMaxLookupSeen = 4096;

class Lookup {
 public:
  explicit Lookup(const NodeId& target, std::size_t k = 8, std::size_t alpha = kLookupAlpha,
                  std::size_t max_queries = kMaxLookupQueries);

  const NodeId& target() const { return target_; }
  // A contact whose id we know (routing table, a response's `nodes`). Ignored when seen before.
  void add(const NodeInfo& node);
  // A contact whose id we do not know yet (bootstrap). Ignored when seen before.
  void add_unknown(const Endpoint& endpoint);

  // The nodes to query now (each is marked in flight), respecting alpha and the query budget.
  std::vector<NodeInfo> next();
  // `from` answered: its id becomes known; `nodes` are new candidates; `token` is kept for
  // announcing. Replies from endpoints not in flight are ignored.
  void on_response(const Endpoint& from, const NodeId& id, const std::vector<NodeInfo>& nodes,
                   std::optional<std::string> token);
  // A query to `from` failed (timeout or error reply).
  void on_failure(const Endpoint& from);

  // Nothing in flight and next() would send nothing: the lookup is over.
  bool finished() const;
  std::size_t in_flight() const { return in_flight_; }
  std::size_t queries_sent() const { return queries_; }
  // The k closest nodes that answered with a token, closest first.
  std::vector<std::pair<NodeInfo, std::string>> closest_with_tokens() const;

 private:
  enum class State : std::uint8_t { fresh, in_flight, responded, failed };
  struct Candidate {
    NodeInfo node;
    bool id_known = true;
    State state = State::fresh;
    std::optional<std::string> token;
  };
  void insert(Candidate c);
  Candidate* find(const Endpoint& endpoint);
  bool before(const Candidate& a, const Candidate& b) const;

  NodeId target_;
  std::size_t k_, alpha_, max_queries_;
  std::vector<Candidate> candidates_;  // sorted: closest known ids first, unknown ids last
  std::set<Endpoint> seen_;
  std::size_t in_flight_ = 0;
  std::size_t queries_ = 0;
};

}  // namespace torfs::dht
