#include "engine/dht_routing_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "engine/dht_lookup.hpp"

namespace torfs::dht {
namespace {

using namespace std::chrono_literals;

const TimePoint t0 = TimePoint{} + 24h;  // well after the epoch ("never")

// An id that shares exactly `prefix` leading bits with `self`, varied by `salt` at the end.
NodeId id_at_prefix(const NodeId& self, int prefix, std::uint8_t salt) {
  NodeId id = self;
  id[prefix / 8] ^= static_cast<std::uint8_t>(0x80u >> (prefix % 8));
  id[19] = static_cast<std::uint8_t>(id[19] ^ salt);
  if (prefix >= 152) id[19] = self[19] ^ static_cast<std::uint8_t>(0x80u >> (prefix % 8));
  return id;
}

Endpoint ep(int n) {
  return Endpoint::v4({10, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n), 1},
                      static_cast<std::uint16_t>(1000 + n));
}

NodeId self_id() {
  NodeId id{};
  id[0] = 0x5a;
  id[19] = 0x01;
  return id;
}

TEST(DhtIds, DistanceAndPrefix) {
  NodeId a{}, b{};
  b[0] = 0x10;
  EXPECT_EQ(common_prefix_bits(a, b), 3);
  EXPECT_EQ(common_prefix_bits(a, a), 160);
  EXPECT_EQ(xor_distance(a, b)[0], 0x10);
  NodeId c{};
  c[0] = 0x01;
  EXPECT_TRUE(closer_to(a, c, b));
  EXPECT_FALSE(closer_to(a, b, c));
  EXPECT_NE(random_node_id(), random_node_id());
}

TEST(RoutingTable, AddsNodesAndRefusesSelfAndPortZero) {
  const NodeId self = self_id();
  RoutingTable t(self);
  EXPECT_FALSE(t.heard_from({self, ep(1)}, true, t0));
  EXPECT_FALSE(t.heard_from({id_at_prefix(self, 0, 1), Endpoint::v4({1, 2, 3, 4}, 0)}, true, t0));
  EXPECT_TRUE(t.heard_from({id_at_prefix(self, 0, 1), ep(1)}, true, t0));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.heard_from({id_at_prefix(self, 0, 1), ep(1)}, false, t0 + 1s));
  EXPECT_EQ(t.size(), 1u);
}

TEST(RoutingTable, SplitsOnlyTheBucketHoldingOurId) {
  const NodeId self = self_id();
  RoutingTable t(self);
  // 8 far nodes (prefix 0) fill the single bucket; the 9th, near, forces splits.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(
        t.heard_from({id_at_prefix(self, 0, static_cast<std::uint8_t>(i)), ep(i)}, true, t0));
  }
  EXPECT_EQ(t.bucket_count(), 1u);
  EXPECT_TRUE(t.heard_from({id_at_prefix(self, 5, 1), ep(100)}, true, t0));
  EXPECT_EQ(t.bucket_count(), 2u);
  EXPECT_EQ(t.size(), 9u);
  // Bucket 0 (far half) is full and no longer splits: a 9th far node only enters the cache.
  EXPECT_FALSE(t.heard_from({id_at_prefix(self, 0, 77), ep(200)}, true, t0));
  EXPECT_EQ(t.size(), 9u);
  // Near nodes keep splitting the last bucket.
  for (int i = 0; i < 40; ++i) {
    t.heard_from({id_at_prefix(self, 1 + i % 20, static_cast<std::uint8_t>(i)), ep(300 + i)}, true,
                 t0);
  }
  EXPECT_GT(t.bucket_count(), 10u);
  for (const auto& e : t.entries())
    EXPECT_NE(e.node.id, self);
}

TEST(RoutingTable, NodeStatesFollowBep5) {
  RoutingEntry e{{NodeId{}, ep(1)}};
  EXPECT_EQ(e.state(t0), NodeState::questionable);  // never answered
  e.last_response = t0;
  EXPECT_EQ(e.state(t0 + 14min), NodeState::good);
  EXPECT_EQ(e.state(t0 + 16min), NodeState::questionable);
  e.last_query = t0 + 10min;  // answered once, queried us recently: still good
  EXPECT_EQ(e.state(t0 + 20min), NodeState::good);
  e.failures = kMaxNodeFailures;
  EXPECT_EQ(e.state(t0 + 20min), NodeState::bad);
}

TEST(RoutingTable, BadNodesAreReplacedFromTheCache) {
  const NodeId self = self_id();
  RoutingTable t(self, 2);
  const NodeInfo a{id_at_prefix(self, 0, 1), ep(1)}, b{id_at_prefix(self, 0, 2), ep(2)};
  const NodeInfo c{id_at_prefix(self, 0, 3), ep(3)};
  const NodeInfo near{id_at_prefix(self, 3, 1), ep(9)};
  t.heard_from(a, true, t0);
  t.heard_from(b, true, t0);
  t.heard_from(near, true, t0);             // splits: far bucket {a, b}, near bucket {near}
  EXPECT_FALSE(t.heard_from(c, true, t0));  // cached
  for (int i = 0; i < kMaxNodeFailures; ++i)
    t.failed(a);
  auto ids = t.entries();
  EXPECT_TRUE(std::any_of(ids.begin(), ids.end(), [&](auto& e) { return e.node == c; }));
  EXPECT_FALSE(std::any_of(ids.begin(), ids.end(), [&](auto& e) { return e.node == a; }));
}

TEST(RoutingTable, BadNodeMakesRoomWithoutCache) {
  const NodeId self = self_id();
  RoutingTable t(self, 1);
  const NodeInfo near{id_at_prefix(self, 3, 1), ep(9)};
  const NodeInfo a{id_at_prefix(self, 0, 1), ep(1)}, b{id_at_prefix(self, 0, 2), ep(2)};
  t.heard_from(a, true, t0);
  t.heard_from(near, true, t0);
  for (int i = 0; i < kMaxNodeFailures; ++i)
    t.failed(a);  // bad, no replacement yet
  EXPECT_TRUE(t.heard_from(b, true, t0));
  EXPECT_EQ(t.find_closest(b.id, 1).front(), b);
}

TEST(RoutingTable, KnownIdAtAnotherEndpointIsIgnoredWhileGood) {
  const NodeId self = self_id();
  RoutingTable t(self);
  const NodeId id = id_at_prefix(self, 2, 9);
  t.heard_from({id, ep(1)}, true, t0);
  t.heard_from({id, ep(2)}, true, t0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.entries()[0].node.endpoint, ep(1));
  // A restarted node: same endpoint, new id, replaces the old entry.
  t.heard_from({id_at_prefix(self, 4, 9), ep(1)}, true, t0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.entries()[0].node.id, id_at_prefix(self, 4, 9));
}

TEST(RoutingTable, FindClosestOrdersByXorDistance) {
  const NodeId self = self_id();
  RoutingTable t(self);
  std::vector<NodeInfo> all;
  for (int i = 0; i < 60; ++i) {
    NodeInfo n{random_node_id(), ep(i)};
    if (t.heard_from(n, true, t0)) all.push_back(n);
  }
  const NodeId target = random_node_id();
  const auto got = t.find_closest(target, 8);
  ASSERT_EQ(got.size(), 8u);
  std::sort(all.begin(), all.end(),
            [&](const NodeInfo& a, const NodeInfo& b) { return closer_to(target, a.id, b.id); });
  for (std::size_t i = 0; i < 8; ++i)
    EXPECT_EQ(got[i], all[i]) << i;
}

TEST(RoutingTable, RefreshTargetsFallInsideStaleBuckets) {
  const NodeId self = self_id();
  RoutingTable t(self);
  for (int i = 0; i < 8; ++i)
    t.heard_from({id_at_prefix(self, 0, i), ep(i)}, true, t0);
  t.heard_from({id_at_prefix(self, 6, 1), ep(50)}, true, t0);  // 2 buckets
  EXPECT_TRUE(t.refresh_targets(t0 + 1min).empty());
  const auto targets = t.refresh_targets(t0 + 16min);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(common_prefix_bits(self, targets[0]), 0);
  EXPECT_GE(common_prefix_bits(self, targets[1]), 1);
  EXPECT_TRUE(t.refresh_targets(t0 + 17min).empty());  // just refreshed
  t.touch(targets[0], t0 + 40min);
  EXPECT_EQ(t.refresh_targets(t0 + 40min).size(), 1u);
}

TEST(RoutingTable, QuestionableNodesOldestFirst) {
  const NodeId self = self_id();
  RoutingTable t(self);
  t.heard_from({id_at_prefix(self, 0, 1), ep(1)}, true, t0 + 2min);
  t.heard_from({id_at_prefix(self, 0, 2), ep(2)}, true, t0);
  t.heard_from({id_at_prefix(self, 0, 3), ep(3)}, true, t0 + 20min);
  const auto q = t.questionable(t0 + 20min, 10);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].endpoint, ep(2));
  EXPECT_EQ(q[1].endpoint, ep(1));
  EXPECT_EQ(t.questionable(t0 + 20min, 1).size(), 1u);
}

TEST(RoutingTableState, RoundTripsAndRejectsGarbage) {
  const NodeId id = random_node_id();
  std::vector<NodeInfo> nodes = {{random_node_id(), ep(1)},
                                 {random_node_id(), *Endpoint::parse("[2001:db8::5]:7")}};
  auto state = parse_state(serialize_state(id, nodes));
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(state->id, id);
  EXPECT_EQ(state->nodes, nodes);

  EXPECT_FALSE(parse_state("garbage").ok());
  EXPECT_FALSE(parse_state("d2:id3:abce").ok());
  EXPECT_FALSE(parse_state("d2:id20:abcdefghij01234567895:nodes5:xxxxxe").ok());
}

// --- the lookup state machine -------------------------------------------------------------

TEST(Lookup, QueriesAlphaClosestAndConvergesOnKResponses) {
  const NodeId target{};
  Lookup l(target, /*k=*/2, /*alpha=*/2);
  auto id_with_first = [](std::uint8_t b) {
    NodeId id{};
    id[0] = b;
    return id;
  };
  l.add({id_with_first(0x40), ep(4)});
  l.add({id_with_first(0x80), ep(8)});
  l.add({id_with_first(0x20), ep(2)});
  auto first = l.next();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].endpoint, ep(2));
  EXPECT_EQ(first[1].endpoint, ep(4));
  EXPECT_TRUE(l.next().empty());  // alpha reached
  EXPECT_FALSE(l.finished());
  // ep(2) answers with a closer node; ep(4) times out.
  l.on_response(ep(2), id_with_first(0x20), {{id_with_first(0x01), ep(1)}}, "tok2");
  l.on_failure(ep(4));
  auto second = l.next();
  ASSERT_EQ(second.size(), 2u);  // ep(1) (closest) and ep(8)
  EXPECT_EQ(second[0].endpoint, ep(1));
  l.on_response(ep(1), id_with_first(0x01), {}, "tok1");
  l.on_response(ep(8), id_with_first(0x80), {}, std::nullopt);
  EXPECT_TRUE(l.next().empty());
  EXPECT_TRUE(l.finished());
  const auto tokens = l.closest_with_tokens();
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].first.endpoint, ep(1));
  EXPECT_EQ(tokens[0].second, "tok1");
  EXPECT_EQ(tokens[1].second, "tok2");
}

TEST(Lookup, UnknownIdsSortLastAndLearnTheirId) {
  Lookup l(NodeId{}, 8, 1);
  l.add_unknown(ep(1));
  l.add_unknown(ep(1));  // duplicates ignored
  auto q = l.next();
  ASSERT_EQ(q.size(), 1u);
  NodeId id{};
  id[0] = 0x10;
  l.on_response(ep(1), id, {}, std::nullopt);
  l.on_response(ep(1), id, {}, std::nullopt);  // a second reply is ignored
  EXPECT_EQ(l.in_flight(), 0u);
  EXPECT_TRUE(l.finished());
}

TEST(Lookup, QueryBudgetAndCandidateCapBound) {
  Lookup l(NodeId{}, 8, 3, /*max_queries=*/10);
  for (int i = 0; i < 1000; ++i)
    l.add({random_node_id(), ep(i)});
  std::set<Endpoint> asked;
  while (!l.finished()) {
    auto q = l.next();
    for (const auto& n : q) {
      asked.insert(n.endpoint);
      l.on_failure(n.endpoint);
    }
    ASSERT_LE(l.queries_sent(), 10u);
  }
  EXPECT_EQ(asked.size(), 10u);
}

}  // namespace
}  // namespace torfs::dht
