// DhtNode on loopback: a small network of our own nodes (127.0.0.20+), the rate limits, malformed
// packets, persistence, and interop with libtorrent's DHT (dht_interop_test.cpp).
#include "engine/net/dht_node.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/krpc.hpp"
#include "tests/engine/net/dht_test_util.hpp"

namespace torfs {
namespace {

TEST(DhtNode, SmallNetworkFindsAnAnnouncedPeer) {
  asio::io_context io;
  std::vector<std::unique_ptr<DhtNode>> nodes;
  nodes.push_back(std::make_unique<DhtNode>(io, local_config(20)));
  ASSERT_TRUE(nodes[0]->start().ok());
  const std::string boot = ip_n(20) + ":" + std::to_string(nodes[0]->port());
  for (int i = 1; i < 10; ++i) {
    nodes.push_back(std::make_unique<DhtNode>(io, local_config(20 + i, {boot})));
    ASSERT_TRUE(nodes.back()->start().ok());
  }
  ASSERT_TRUE(run_until(io, [&] { return tables_hold(nodes, 3); }))
      << "routing tables did not fill";

  const Sha1Hash h = hash_of("dht network test");
  auto announce = lookup(*nodes[3], h, 4444);
  ASSERT_TRUE(run_until(io, [&] { return announce->done; }));
  // Let the announce_peer queries land.
  ASSERT_TRUE(run_until(io, [&] { return announces_stored(nodes) >= 3; }));

  // A newcomer holds nothing itself: the peer must come to it over the network.
  DhtNode newcomer(io, local_config(30, {boot}));
  ASSERT_TRUE(newcomer.start().ok());
  ASSERT_TRUE(run_until(io, [&] { return newcomer.routing_table_size() >= 3; }));
  auto found = lookup(newcomer, h);
  ASSERT_TRUE(run_until(io, [&] { return found->done; }));
  EXPECT_EQ(found->done_calls, 1);
  EXPECT_EQ(found->peers, std::set<Endpoint>{*Endpoint::parse(ip_n(23) + ":4444")});
  EXPECT_EQ(newcomer.stats().announces_stored, 0u);

  auto nothing = lookup(*nodes[5], hash_of("nobody announced this"));
  ASSERT_TRUE(run_until(io, [&] { return nothing->done; }));
  EXPECT_TRUE(nothing->peers.empty());
}

TEST(DhtNode, AnswersPingFindNodeAndRejectsBadTokens) {
  asio::io_context io;
  DhtNode node(io, local_config(40));
  ASSERT_TRUE(node.start().ok());
  RawClient client(io, 41);
  client.send(node, 40, dht::build_ping("p1", client_id('c')));
  client.send(node, 40, dht::build_find_node("f1", client_id('c'), client_id('t')));
  client.send(node, 40,
              dht::build_announce_peer("a1", client_id('c'), hash_of("x"), 1234, "forged", false));
  client.send(node, 40, "d1:ad2:id20:abcdefghij0123456789e1:q5:fly_x1:t2:u11:y1:qe");
  auto replies = client.drain(io, 500ms);
  ASSERT_EQ(replies.size(), 4u);
  std::map<std::string, dht::Message> by_tid;
  for (const auto& r : replies) {
    auto m = dht::parse_message(r);
    ASSERT_TRUE(m.ok()) << m.error().message;
    by_tid[m->transaction_id] = *m;
  }
  EXPECT_EQ(by_tid["p1"].kind, dht::MessageKind::response);
  EXPECT_EQ(by_tid["p1"].response.id, node.id());
  EXPECT_EQ(by_tid["f1"].kind, dht::MessageKind::response);
  EXPECT_EQ(by_tid["a1"].kind, dht::MessageKind::error);
  EXPECT_EQ(by_tid["a1"].error.code, dht::ErrorCode::protocol);
  EXPECT_EQ(by_tid["u1"].error.code, dht::ErrorCode::method_unknown);
  EXPECT_EQ(node.stats().announces_stored, 0u);
  EXPECT_EQ(node.routing_table_size(), 1u);  // the querying client
}

TEST(DhtNode, AnnounceWithTokenIsServedBackWithImpliedPort) {
  asio::io_context io;
  DhtNode node(io, local_config(42));
  ASSERT_TRUE(node.start().ok());
  RawClient client(io, 43);
  const Sha1Hash h = hash_of("token test");
  client.send(node, 42, dht::build_get_peers("g1", client_id('c'), h));
  auto first = client.drain(io, 300ms);
  ASSERT_EQ(first.size(), 1u);
  auto m = dht::parse_message(first[0]);
  ASSERT_TRUE(m.ok() && m->response.token);
  EXPECT_TRUE(m->response.values.empty());
  client.send(node, 42,
              dht::build_announce_peer("a1", client_id('c'), h, 0, *m->response.token, true));
  ASSERT_EQ(client.drain(io, 300ms).size(), 1u);
  EXPECT_EQ(node.stats().announces_stored, 1u);
  client.send(node, 42, dht::build_get_peers("g2", client_id('c'), h));
  auto second = client.drain(io, 300ms);
  ASSERT_EQ(second.size(), 1u);
  auto m2 = dht::parse_message(second[0]);
  ASSERT_TRUE(m2.ok());
  ASSERT_EQ(m2->response.values.size(), 1u);
  EXPECT_EQ(m2->response.values[0].port, client.socket.local_endpoint().port());
}

TEST(DhtNode, RepliesPerIpAreRateLimited) {
  asio::io_context io;
  DhtConfig config = local_config(44);
  config.max_replies_per_ip_per_second = 5;
  DhtNode node(io, config);
  ASSERT_TRUE(node.start().ok());
  RawClient flooder(io, 45), other(io, 46);
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    flooder.send(node, 44, dht::build_ping("f" + std::to_string(i), client_id('f')));
  }
  const auto flood_replies = flooder.drain(io, 300ms);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  EXPECT_GE(flood_replies.size(), 1u);
  // Burst of 5, refilled at 5/s while the test ran.
  EXPECT_LE(flood_replies.size(), 5u + static_cast<std::size_t>(elapsed * 5) + 1);
  EXPECT_GE(node.stats().replies_rate_limited, 150u);
  // Another IP is served normally.
  other.send(node, 44, dht::build_ping("o1", client_id('o')));
  EXPECT_EQ(other.drain(io, 300ms).size(), 1u);
}

TEST(DhtNode, OutgoingQueriesAreRateLimited) {
  asio::io_context io;
  // 40 silent contacts (UDP ports on 127.0.0.48 nobody listens on).
  std::vector<std::string> bootstrap;
  for (int i = 0; i < 40; ++i)
    bootstrap.push_back(ip_n(48) + ":" + std::to_string(9 + i));
  DhtConfig config = local_config(47, bootstrap);
  config.max_queries_per_second = 4;
  DhtNode node(io, config);
  const auto begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(node.start().ok());
  run_until(
      io, [] { return false; }, 1s);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  EXPECT_GE(node.stats().queries_sent, 1u);
  EXPECT_LE(node.stats().queries_sent, 1u + static_cast<std::size_t>(elapsed * 4) + 1);
}

TEST(DhtNode, MalformedPacketsAreIgnored) {
  asio::io_context io;
  DhtNode node(io, local_config(50));
  ASSERT_TRUE(node.start().ok());
  RawClient client(io, 51);
  client.send(node, 50, "garbage");
  client.send(node, 50, std::string(9000, 'd'));                             // oversized
  client.send(node, 50, "d1:rd2:id20:abcdefghij0123456789e1:t2:zz1:y1:re");  // unsolicited reply
  client.send(node, 50, "d1:eli201e1:xe1:t2:zz1:y1:ee");
  client.send(node, 50, "li1ei2ee");
  client.send(node, 50, "d1:ad2:id3:abce1:q4:ping1:t2:b11:y1:qe");  // bad id: a 203 error
  const auto replies = client.drain(io, 300ms);
  ASSERT_EQ(replies.size(), 1u);
  auto err = dht::parse_message(replies[0]);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->transaction_id, "b1");
  EXPECT_EQ(err->error.code, dht::ErrorCode::protocol);
  EXPECT_EQ(node.stats().malformed_packets, 4u);
  EXPECT_EQ(node.routing_table_size(), 0u);
  client.send(node, 50, dht::build_ping("ok", client_id('c')));
  EXPECT_EQ(client.drain(io, 300ms).size(), 1u);
}

TEST(DhtNode, StatePersistsIdAndNodes) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("torfs-dht-state-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "dht.state";
  asio::io_context io;
  DhtNode seed(io, local_config(52));
  ASSERT_TRUE(seed.start().ok());
  Sha1Hash first_id;
  {
    DhtConfig c = local_config(53, {ip_n(52) + ":" + std::to_string(seed.port())});
    c.state_file = file;
    DhtNode node(io, c);
    ASSERT_TRUE(node.start().ok());
    ASSERT_TRUE(run_until(io, [&] { return node.routing_table_size() >= 1; }));
    first_id = node.id();
    node.stop();
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  DhtConfig c = local_config(53);  // no bootstrap: the persisted table is the only way in
  c.state_file = file;
  DhtNode again(io, c);
  ASSERT_TRUE(again.start().ok());
  EXPECT_EQ(again.id(), first_id);
  EXPECT_TRUE(run_until(io, [&] { return again.routing_table_size() >= 1; }));
  again.stop();
  std::filesystem::remove_all(dir);
}

TEST(DhtNode, NoCallbacksAfterDestructionAndDoneAfterStop) {
  asio::io_context io;
  DhtNode seed(io, local_config(54));
  ASSERT_TRUE(seed.start().ok());
  auto gone = std::make_shared<LookupResult>();
  {
    DhtNode node(io, local_config(55, {ip_n(54) + ":" + std::to_string(seed.port())}));
    ASSERT_TRUE(node.start().ok());
    gone = lookup(node, hash_of("x"));
  }
  run_until(
      io, [] { return false; }, 1s);
  EXPECT_FALSE(gone->done);

  DhtNode node(io, local_config(55, {ip_n(54) + ":" + std::to_string(seed.port())}));
  ASSERT_TRUE(node.start().ok());
  auto stopped = lookup(node, hash_of("y"));
  node.stop();
  EXPECT_FALSE(stopped->done);  // never inside the call
  ASSERT_TRUE(run_until(io, [&] { return stopped->done; }));
  auto after = lookup(node, hash_of("z"));
  ASSERT_TRUE(run_until(io, [&] { return after->done; }));
  EXPECT_EQ(stopped->done_calls, 1);
}

TEST(DhtNode, RefusesABadListenAddress) {
  asio::io_context io;
  DhtConfig c;
  c.listen = "not an address";
  DhtNode node(io, c);
  auto r = node.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not an address"), std::string::npos);
}

}  // namespace
}  // namespace torfs
