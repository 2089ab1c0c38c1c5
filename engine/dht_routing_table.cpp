#include "engine/dht_routing_table.hpp"

#include <algorithm>
#include <bit>
#include <random>

#include "engine/bencode.hpp"

namespace torfs::dht {
namespace {

Error state_error(std::string what) {
  return make_error(std::errc::invalid_argument, "DHT state: " + std::move(what));
}

// A random id sharing exactly `bits` leading bits with `self` (or at least `bits` when `at_least`).
NodeId random_id_with_prefix(const NodeId& self, int bits, bool at_least) {
  NodeId id = random_node_id();
  for (int i = 0; i < bits && i < 160; ++i) {
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
    id[i / 8] = static_cast<std::uint8_t>((id[i / 8] & ~mask) | (self[i / 8] & mask));
  }
  if (!at_least && bits < 160) {  // the next bit differs from ours
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80u >> (bits % 8));
    id[bits / 8] = static_cast<std::uint8_t>((id[bits / 8] & ~mask) | (~self[bits / 8] & mask));
  }
  return id;
}

}  // namespace

NodeId random_node_id() {
  std::random_device rd;
  NodeId id;
  for (auto& b : id)
    b = static_cast<std::uint8_t>(rd());
  return id;
}

NodeId xor_distance(const NodeId& a, const NodeId& b) {
  NodeId d;
  for (std::size_t i = 0; i < d.size(); ++i)
    d[i] = a[i] ^ b[i];
  return d;
}

int common_prefix_bits(const NodeId& a, const NodeId& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::uint8_t x = a[i] ^ b[i];
    if (x != 0) return static_cast<int>(i * 8) + std::countl_zero(x);
  }
  return 160;
}

bool closer_to(const NodeId& target, const NodeId& a, const NodeId& b) {
  return xor_distance(target, a) < xor_distance(target, b);
}

NodeState RoutingEntry::state(TimePoint now) const {
  if (failures >= kMaxNodeFailures) return NodeState::bad;
  if (confirmed() &&
      (now - last_response < kGoodNodeWindow || now - last_query < kGoodNodeWindow)) {
    return NodeState::good;
  }
  return NodeState::questionable;
}

RoutingTable::RoutingTable(const NodeId& self, std::size_t k) : self_(self), k_(k), buckets_(1) {}

std::size_t RoutingTable::size() const {
  std::size_t n = 0;
  for (const Bucket& b : buckets_)
    n += b.live.size();
  return n;
}

std::size_t RoutingTable::bucket_index(const NodeId& id) const {
  return std::min<std::size_t>(static_cast<std::size_t>(common_prefix_bits(self_, id)),
                               buckets_.size() - 1);
}

bool RoutingTable::split_last() {
  if (buckets_.size() >= kMaxBuckets) return false;
  const std::size_t last = buckets_.size() - 1;
  Bucket next;
  next.touched = buckets_[last].touched;
  auto moves = [&](const RoutingEntry& e) {
    return static_cast<std::size_t>(common_prefix_bits(self_, e.node.id)) > last;
  };
  using List = std::vector<RoutingEntry> Bucket::*;
  for (List list : {&Bucket::live, &Bucket::replacements}) {
    auto& from = buckets_[last].*list;
    std::copy_if(from.begin(), from.end(), std::back_inserter(next.*list), moves);
    std::erase_if(from, moves);
  }
  buckets_.push_back(std::move(next));
  return true;
}

bool RoutingTable::add_replacement(Bucket& b, const RoutingEntry& e, std::size_t k) {
  std::erase_if(b.replacements, [&](const RoutingEntry& r) { return r.node.id == e.node.id; });
  if (b.replacements.size() >= k) b.replacements.erase(b.replacements.begin());
  b.replacements.push_back(e);
  return false;
}

bool RoutingTable::heard_from(const NodeInfo& node, bool responded, TimePoint now) {
  if (node.id == self_ || node.endpoint.port == 0) return false;
  RoutingEntry e{node};
  Bucket* b = &buckets_[bucket_index(node.id)];
  auto same = std::find_if(b->live.begin(), b->live.end(),
                           [&](const RoutingEntry& x) { return x.node.id == node.id; });
  if (same != b->live.end()) {
    // Keep a live node's known endpoint: the newcomer may be spoofing its id.
    if (same->node.endpoint != node.endpoint && same->state(now) != NodeState::bad) return true;
    e = *same;
    e.node = node;
    b->live.erase(same);
  } else {
    // An endpoint that comes back with another id (a restarted node) drops its old entry.
    for (Bucket& other : buckets_) {
      std::erase_if(other.live,
                    [&](const RoutingEntry& x) { return x.node.endpoint == node.endpoint; });
    }
  }
  if (responded) {
    e.last_response = now;
    e.failures = 0;
  } else {
    e.last_query = now;
  }
  for (;;) {
    b = &buckets_[bucket_index(node.id)];
    if (b->live.size() < k_) {
      b->live.push_back(e);
      if (responded) b->touched = now;
      return true;
    }
    auto bad = std::find_if(b->live.begin(), b->live.end(),
                            [&](const RoutingEntry& x) { return x.state(now) == NodeState::bad; });
    if (bad != b->live.end()) {
      *bad = e;
      if (responded) b->touched = now;
      return true;
    }
    if (b != &buckets_.back() || !split_last()) return add_replacement(*b, e, k_);
  }
}

void RoutingTable::failed(const NodeInfo& node) {
  Bucket& b = buckets_[bucket_index(node.id)];
  auto it = std::find_if(b.live.begin(), b.live.end(), [&](const RoutingEntry& e) {
    return e.node.id == node.id && e.node.endpoint == node.endpoint;
  });
  if (it == b.live.end()) {
    std::erase_if(b.replacements, [&](const RoutingEntry& e) { return e.node == node; });
    return;
  }
  if (++it->failures < kMaxNodeFailures || b.replacements.empty()) return;
  *it = b.replacements.back();
  b.replacements.pop_back();
}

std::vector<NodeInfo> RoutingTable::find_closest(const NodeId& target, std::size_t n) const {
  std::vector<const RoutingEntry*> all;
  for (const Bucket& b : buckets_) {
    for (const RoutingEntry& e : b.live) {
      if (e.failures < kMaxNodeFailures) all.push_back(&e);
    }
  }
  const std::size_t m = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(),
                    [&](const RoutingEntry* a, const RoutingEntry* b) {
                      return closer_to(target, a->node.id, b->node.id);
                    });
  std::vector<NodeInfo> out;
  out.reserve(m);
  for (std::size_t i = 0; i < m; ++i)
    out.push_back(all[i]->node);
  return out;
}

std::vector<NodeInfo> RoutingTable::questionable(TimePoint now, std::size_t max) const {
  std::vector<const RoutingEntry*> found;
  for (const Bucket& b : buckets_) {
    for (const RoutingEntry& e : b.live) {
      if (e.state(now) == NodeState::questionable) found.push_back(&e);
    }
  }
  std::sort(found.begin(), found.end(), [](const RoutingEntry* a, const RoutingEntry* b) {
    return std::max(a->last_response, a->last_query) < std::max(b->last_response, b->last_query);
  });
  std::vector<NodeInfo> out;
  for (std::size_t i = 0; i < found.size() && i < max; ++i)
    out.push_back(found[i]->node);
  return out;
}

std::vector<NodeId> RoutingTable::refresh_targets(TimePoint now) {
  std::vector<NodeId> out;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (now - buckets_[i].touched < kBucketRefreshInterval) continue;
    const bool last = i + 1 == buckets_.size();
    out.push_back(random_id_with_prefix(self_, static_cast<int>(i), last));
    buckets_[i].touched = now;
  }
  return out;
}

void RoutingTable::touch(const NodeId& target, TimePoint now) {
  buckets_[bucket_index(target)].touched = now;
}

std::vector<RoutingEntry> RoutingTable::entries() const {
  std::vector<RoutingEntry> out;
  for (const Bucket& b : buckets_)
    out.insert(out.end(), b.live.begin(), b.live.end());
  return out;
}

std::string serialize_state(const NodeId& id, const std::vector<NodeInfo>& nodes) {
  std::string v4, v6;
  std::size_t count = 0;
  for (const NodeInfo& n : nodes) {
    if (count++ >= kMaxPersistedNodes) break;
    (n.endpoint.v6 ? v6 : v4) += compact_node(n);
  }
  bencode::Value::Dict d{{"id", bencode::Value(std::string(id.begin(), id.end()))},
                         {"nodes", bencode::Value(std::move(v4))},
                         {"nodes6", bencode::Value(std::move(v6))}};
  return bencode::encode(bencode::Value(std::move(d)));
}

Result<PersistedState> parse_state(std::string_view bytes) {
  const std::size_t max_size = kMaxPersistedNodes * kCompactNode6Size + 256;
  auto doc = bencode::decode(bytes, {.max_depth = 4, .max_tokens = 64, .max_size = max_size});
  if (!doc) return state_error(doc.error().message);
  const auto root = doc->root();
  const auto id = root.find_string("id");
  if (!id || id->size() != 20) return state_error("no 20-byte \"id\"");
  PersistedState state;
  std::copy(id->begin(), id->end(), state.id.begin());
  const auto nodes = root.find_string("nodes").value_or("");
  const auto nodes6 = root.find_string("nodes6").value_or("");
  if (nodes.size() % kCompactNodeSize != 0 || nodes6.size() % kCompactNode6Size != 0) {
    return state_error("node lists are not whole compact entries");
  }
  state.nodes = parse_compact_nodes(nodes, false, kMaxPersistedNodes);
  auto more = parse_compact_nodes(nodes6, true, kMaxPersistedNodes - state.nodes.size());
  state.nodes.insert(state.nodes.end(), more.begin(), more.end());
  return state;
}

}  // namespace torfs::dht
