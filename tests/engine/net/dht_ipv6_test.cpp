// DHT over IPv6 (BEP 32) on the loopback ::1: an IPv6-only network finds an announced peer
// (18-byte `values`, 38-byte `nodes6`); a dual-stack node ("[::]") runs both families with one
// id, routes bootstrap addresses by family, honours and sends `want`, and persists both tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/bencode.hpp"
#include "engine/dht_routing_table.hpp"
#include "tests/engine/net/dht_test_util.hpp"

namespace torfs {
namespace {

bool has_ipv6_loopback() {
  asio::io_context io;
  boost::system::error_code ec;
  udp::socket s(io);
  s.open(udp::v6(), ec);
  if (!ec) s.bind(udp::endpoint(asio::ip::address_v6::loopback(), 0), ec);
  return !ec;
}

DhtConfig config6(std::vector<std::string> bootstrap = {}) {
  DhtConfig c;
  c.listen = "[::1]:0";
  c.bootstrap = std::move(bootstrap);
  c.query_timeout = 500ms;
  return c;
}

std::string at6(const DhtNode& node) {
  return "[::1]:" + std::to_string(node.port(true));
}

class DhtIpv6 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!has_ipv6_loopback()) GTEST_SKIP() << "no IPv6 on the loopback interface";
  }
  asio::io_context io;
};

TEST_F(DhtIpv6, Ipv6NetworkFindsAnAnnouncedPeer) {
  std::vector<std::unique_ptr<DhtNode>> nodes;
  nodes.push_back(std::make_unique<DhtNode>(io, config6()));
  ASSERT_TRUE(nodes[0]->start().ok());
  EXPECT_EQ(nodes[0]->port(false), 0u);  // a specific IPv6 address: no IPv4 node
  EXPECT_EQ(nodes[0]->port(), nodes[0]->port(true));
  for (int i = 1; i < 5; ++i) {
    nodes.push_back(std::make_unique<DhtNode>(io, config6({at6(*nodes[0])})));
    ASSERT_TRUE(nodes.back()->start().ok());
  }
  ASSERT_TRUE(run_until(io, [&] { return tables_hold(nodes, 2); }))
      << "IPv6 routing tables did not fill";
  const Sha1Hash h = hash_of("dht ipv6 test");
  auto announce = lookup(*nodes[2], h, 4444);
  ASSERT_TRUE(run_until(io, [&] { return announce->done; }));
  ASSERT_TRUE(run_until(io, [&] { return announces_stored(nodes) >= 2; }));
  DhtNode newcomer(io, config6({at6(*nodes[0])}));
  ASSERT_TRUE(newcomer.start().ok());
  ASSERT_TRUE(run_until(io, [&] { return newcomer.routing_table_size() >= 2; }));
  auto found = lookup(newcomer, h);
  ASSERT_TRUE(run_until(io, [&] { return found->done; }));
  EXPECT_EQ(found->done_calls, 1);
  EXPECT_EQ(found->peers, std::set<Endpoint>{*Endpoint::parse("[::1]:4444")});
  EXPECT_EQ(newcomer.stats().announces_stored, 0u);
}

// A dual-stack node, an IPv4 seed (127.0.0.61) and an IPv6 seed (::1); each family bootstraps
// from the seed of its own family only, and a lookup reports peers of both families.
struct DualNetwork {
  explicit DualNetwork(asio::io_context& io, std::filesystem::path state = {})
      : seed4(io, local_config(61)), seed6(io, config6()) {
    EXPECT_TRUE(seed4.start().ok());
    EXPECT_TRUE(seed6.start().ok());
    DhtConfig c;
    c.listen = "[::]:0";
    c.bootstrap = {ip_n(61) + ":" + std::to_string(seed4.port()), at6(seed6)};
    c.query_timeout = 500ms;
    c.state_file = std::move(state);
    dual = std::make_unique<DhtNode>(io, c);
    EXPECT_TRUE(dual->start().ok());
  }
  bool filled() const {
    return dual->routing_table_size(false) >= 1 && dual->routing_table_size(true) >= 1;
  }
  DhtNode seed4, seed6;
  std::unique_ptr<DhtNode> dual;
};

TEST_F(DhtIpv6, DualStackRunsBothFamilies) {
  DualNetwork net(io);
  ASSERT_NE(net.dual->port(false), 0u);
  ASSERT_NE(net.dual->port(true), 0u);
  ASSERT_TRUE(run_until(io, [&] { return net.filled(); })) << "a family did not bootstrap";
  // Each seed (one family each) has the dual node in its table.
  EXPECT_TRUE(run_until(io, [&] {
    return net.seed4.routing_table_size() >= 1 && net.seed6.routing_table_size() >= 1;
  }));

  const Sha1Hash h = hash_of("dual stack");
  auto a4 = lookup(net.seed4, h, 5555);
  auto a6 = lookup(net.seed6, h, 6666);
  ASSERT_TRUE(run_until(io, [&] { return a4->done && a6->done; }));
  ASSERT_TRUE(run_until(io, [&] { return net.dual->stats().announces_stored >= 2; }));
  auto found = lookup(*net.dual, h);
  ASSERT_TRUE(run_until(io, [&] { return found->done; }));
  EXPECT_EQ(found->done_calls, 1);
  EXPECT_EQ(found->peers, (std::set<Endpoint>{*Endpoint::parse(ip_n(61) + ":5555"),
                                              *Endpoint::parse("[::1]:6666")}));
}

// Which compact node lists a find_node reply carries.
std::pair<bool, bool> node_lists(const std::string& reply) {
  auto doc = bencode::decode(reply);
  if (!doc) return {false, false};
  const auto r = doc->root().find_dict("r");
  if (!r) return {false, false};
  return {r->find_string("nodes").has_value(), r->find_string("nodes6").has_value()};
}

TEST_F(DhtIpv6, WantIsHonouredAndSent) {
  DualNetwork net(io);
  ASSERT_TRUE(run_until(io, [&] { return net.filled(); }));
  RawClient client6(io, std::string("::1"));
  const udp::endpoint to6(asio::ip::address_v6::loopback(), net.dual->port(true));
  const auto ask = [&](const dht::Want& want) {
    client6.send_to(to6, dht::build_find_node("f1", client_id('c'), client_id('t'), want));
    const auto replies = client6.drain(io, 300ms);
    return replies.size() == 1 ? node_lists(replies[0]) : std::pair{false, false};
  };
  EXPECT_EQ(ask({}), std::pair(false, true));  // no want: the socket's family
  EXPECT_EQ(ask({.n4 = true}), std::pair(true, false));
  EXPECT_EQ(ask({.n4 = true, .n6 = true}), std::pair(true, true));
  RawClient client4(io, 62);
  client4.send(*net.dual, 1,
               dht::build_find_node("f2", client_id('d'), client_id('t'), {.n6 = true}));
  const auto replies4 = client4.drain(io, 300ms);
  ASSERT_EQ(replies4.size(), 1u);
  EXPECT_EQ(node_lists(replies4[0]), std::pair(false, true));

  // Our own lookups ask for both families.
  DhtConfig c;
  c.listen = "[::]:0";
  c.bootstrap = {"[::1]:" + std::to_string(client6.socket.local_endpoint().port())};
  DhtNode asking(io, c);
  ASSERT_TRUE(asking.start().ok());
  const auto queries = client6.drain(io, 500ms);
  ASSERT_FALSE(queries.empty());
  auto q = dht::parse_message(queries[0]);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->query.method, dht::Method::find_node);
  EXPECT_EQ(q->query.want, (dht::Want{.n4 = true, .n6 = true}));
}

TEST_F(DhtIpv6, StateKeepsBothFamilies) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("torfs-dht6-state-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "dht.state";
  Sha1Hash id;
  {
    DualNetwork net(io, file);
    ASSERT_TRUE(run_until(io, [&] { return net.filled(); }));
    id = net.dual->id();
    net.dual->stop();
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    auto state = dht::parse_state(bytes);
    ASSERT_TRUE(state.ok()) << state.error().message;
    EXPECT_EQ(state->id, id);
    const auto v6 = std::count_if(state->nodes.begin(), state->nodes.end(),
                                  [](const dht::NodeInfo& n) { return n.endpoint.v6; });
    EXPECT_GE(v6, 1);
    EXPECT_GE(state->nodes.size() - static_cast<std::size_t>(v6), 1u);

    DhtConfig c;  // no bootstrap: the persisted tables are the only way in
    c.listen = "[::]:0";
    c.bootstrap = {};
    c.state_file = file;
    DhtNode again(io, c);
    ASSERT_TRUE(again.start().ok());
    EXPECT_EQ(again.id(), id);
    EXPECT_TRUE(run_until(io, [&] {
      return again.routing_table_size(false) >= 1 && again.routing_table_size(true) >= 1;
    }));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace torfs
