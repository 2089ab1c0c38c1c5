// The DHT routing table (BEP 5), pure: k-buckets over the 160-bit id space, node liveness and
// persistence. No I/O and no clock of its own: callers pass `now`, so every rule is unit-tested
// with a fake time line.
//
// Layout (as libtorrent): bucket i < last holds the nodes whose id shares exactly i leading bits
// with ours; the last bucket holds every node sharing at least `last` bits. Only the last bucket
// (the one containing our own id) splits when full, up to 160 buckets. A full bucket keeps up to
// k newcomers in a replacement cache; they take the place of nodes that go bad.
//
// Not thread-safe: owned by the DHT node's io_context thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "engine/krpc.hpp"

namespace torfs::dht {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

inline constexpr std::size_t kBucketSize = 8;  // k
inline constexpr std::size_t kMaxBuckets = 160;
// BEP 5: a node is good if it answered us (or, having answered once, queried us) within 15
// minutes; a bucket untouched for 15 minutes is refreshed.
inline constexpr auto kGoodNodeWindow = std::chrono::minutes(15);
inline constexpr auto kBucketRefreshInterval = std::chrono::minutes(15);
// Unanswered queries in a row after which a node is bad.
inline constexpr int kMaxNodeFailures = 3;
inline constexpr std::size_t kMaxPersistedNodes = kMaxBuckets * kBucketSize;

// A fresh random id (std::random_device). BEP 42 secure ids (derived from the external IP) are
// left out on purpose: libtorrent only prefers them when dht_prefer_verified_node_ids is set and
// only enforces them with dht_enforce_node_id (off by default).
NodeId random_node_id();
NodeId xor_distance(const NodeId& a, const NodeId& b);
// Number of leading bits a and b share (160 when equal).
int common_prefix_bits(const NodeId& a, const NodeId& b);
// True when `a` is strictly closer to `target` than `b` (XOR metric).
bool closer_to(const NodeId& target, const NodeId& a, const NodeId& b);

enum class NodeState : std::uint8_t { good, questionable, bad };

struct RoutingEntry {
  NodeInfo node;
  TimePoint last_response{};  // epoch: never answered us
  TimePoint last_query{};     // when it last queried us
  int failures = 0;           // unanswered queries in a row
  bool confirmed() const { return last_response != TimePoint{}; }
  NodeState state(TimePoint now) const;
};

class RoutingTable {
 public:
  explicit RoutingTable(const NodeId& self, std::size_t k = kBucketSize);

  const NodeId& self() const { return self_; }
  std::size_t size() const;  // live entries (not counting replacement caches)
  std::size_t bucket_count() const { return buckets_.size(); }

  // `node` answered one of our queries (`responded`) or sent us a query. Adds or refreshes it;
  // a known id at another endpoint is ignored (no hijacking of table slots) unless the old
  // entry is bad. Our own id and port 0 are never added. Returns true when `node` is in the
  // table (not only in a replacement cache) afterwards.
  bool heard_from(const NodeInfo& node, bool responded, TimePoint now);
  // A query to `node` went unanswered. After kMaxNodeFailures in a row it is bad and is
  // replaced by the freshest node of its bucket's replacement cache, if any.
  void failed(const NodeInfo& node);

  // Up to `n` non-bad nodes closest to `target`, closest first.
  std::vector<NodeInfo> find_closest(const NodeId& target, std::size_t n) const;
  // Questionable nodes (not heard from within kGoodNodeWindow), least recently heard first, at
  // most `max`: the node pings them to learn whether they are still good.
  std::vector<NodeInfo> questionable(TimePoint now, std::size_t max) const;
  // A random target inside every bucket not touched for kBucketRefreshInterval; the caller runs
  // a find_node lookup for each and the bucket counts as touched from now on.
  std::vector<NodeId> refresh_targets(TimePoint now);
  // A lookup for `target` ran: the bucket covering it counts as fresh.
  void touch(const NodeId& target, TimePoint now);

  std::vector<RoutingEntry> entries() const;  // all live entries (tests, persistence)

 private:
  struct Bucket {
    std::vector<RoutingEntry> live;          // <= k_
    std::vector<RoutingEntry> replacements;  // <= k_, newest last
    TimePoint touched{};
  };
  std::size_t bucket_index(const NodeId& id) const;
  bool split_last();
  static bool add_replacement(Bucket& b, const RoutingEntry& e, std::size_t k);

  NodeId self_;
  std::size_t k_;
  std::vector<Bucket> buckets_;
};

// Persistence: a bencoded dict {"id": our 20-byte id, "nodes": compact 26-byte entries,
// "nodes6": compact 38-byte entries}. Loading is bounded (kMaxPersistedNodes) and strict about
// sizes; the loaded nodes are candidates to ping, not trusted table entries.
struct PersistedState {
  NodeId id{};
  std::vector<NodeInfo> nodes;
};
std::string serialize_state(const NodeId& id, const std::vector<NodeInfo>& nodes);
Result<PersistedState> parse_state(std::string_view bytes);

}  // namespace torfs::dht
