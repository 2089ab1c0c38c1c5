#include "engine/krpc.hpp"

#include <gtest/gtest.h>

#include <string>

#include "engine/bencode.hpp"

namespace torfs::dht {
namespace {

using bencode::Value;

NodeId id_of(char c) {
  NodeId id;
  id.fill(static_cast<std::uint8_t>(c));
  return id;
}
std::string str(const NodeId& id) {
  return std::string(id.begin(), id.end());
}
Endpoint ep(std::uint8_t last, std::uint16_t port) {
  return Endpoint::v4({10, 0, 0, last}, port);
}

// The example messages of BEP 5, byte for byte.
TEST(Krpc, ParsesBep5Examples) {
  auto ping = parse_message("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
  ASSERT_TRUE(ping.ok()) << ping.error().message;
  EXPECT_EQ(ping->kind, MessageKind::query);
  EXPECT_EQ(ping->query.method, Method::ping);
  EXPECT_EQ(ping->transaction_id, "aa");
  EXPECT_EQ(str(ping->query.id), "abcdefghij0123456789");

  auto find = parse_message(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:"
      "qe");
  ASSERT_TRUE(find.ok()) << find.error().message;
  EXPECT_EQ(find->query.method, Method::find_node);
  EXPECT_EQ(str(find->query.target), "mnopqrstuvwxyz123456");

  auto announce = parse_message(
      "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:"
      "porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe");
  ASSERT_TRUE(announce.ok()) << announce.error().message;
  EXPECT_EQ(announce->query.method, Method::announce_peer);
  EXPECT_TRUE(announce->query.implied_port);
  EXPECT_EQ(announce->query.port, 6881);
  EXPECT_EQ(announce->query.token, "aoeusnth");

  auto values = parse_message(
      "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re");
  ASSERT_TRUE(values.ok()) << values.error().message;
  EXPECT_EQ(values->kind, MessageKind::response);
  EXPECT_EQ(values->response.token, "aoeusnth");
  ASSERT_EQ(values->response.values.size(), 2u);
  EXPECT_EQ(values->response.values[0].to_string(), "97.120.106.101:11893");

  auto error = parse_message("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee");
  ASSERT_TRUE(error.ok()) << error.error().message;
  EXPECT_EQ(error->kind, MessageKind::error);
  EXPECT_EQ(error->error.code, ErrorCode::generic);
  EXPECT_EQ(error->error.text, "A Generic Error Ocurred");
}

TEST(Krpc, QueriesRoundTrip) {
  const NodeId self = id_of('s'), target = id_of('t');
  auto gp = parse_message(build_get_peers("xy", self, target));
  ASSERT_TRUE(gp.ok());
  EXPECT_EQ(gp->query.method, Method::get_peers);
  EXPECT_EQ(gp->query.id, self);
  EXPECT_EQ(gp->query.info_hash, target);
  EXPECT_EQ(gp->version, kClientVersion);

  auto fn = parse_message(build_find_node("t1", self, target));
  ASSERT_TRUE(fn.ok());
  EXPECT_EQ(fn->query.target, target);

  auto ap = parse_message(build_announce_peer("t2", self, target, 51413, "tok", false));
  ASSERT_TRUE(ap.ok());
  EXPECT_EQ(ap->query.port, 51413);
  EXPECT_FALSE(ap->query.implied_port);
  EXPECT_EQ(ap->query.token, "tok");
  auto implied = parse_message(build_announce_peer("t3", self, target, 0, "tok", true));
  ASSERT_TRUE(implied.ok()) << implied.error().message;
  EXPECT_TRUE(implied->query.implied_port);

  auto ping = parse_message(build_ping("p", self));
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->transaction_id, "p");
}

TEST(Krpc, ResponseRoundTripSplitsNodesByFamily) {
  Response r;
  r.id = id_of('r');
  r.nodes.push_back({id_of('a'), ep(1, 6881)});
  Endpoint v6 = *Endpoint::parse("[2001:db8::1]:6882");
  r.nodes.push_back({id_of('b'), v6});
  r.values = {ep(2, 1000), *Endpoint::parse("[2001:db8::2]:1001")};
  r.token = "tk";
  const std::string wire = build_response("ab", r);
  auto doc = bencode::decode(wire);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().find_dict("r")->find_string("nodes")->size(), kCompactNodeSize);
  EXPECT_EQ(doc->root().find_dict("r")->find_string("nodes6")->size(), kCompactNode6Size);

  auto m = parse_message(wire);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->response.id, r.id);
  EXPECT_EQ(m->response.nodes, r.nodes);
  EXPECT_EQ(m->response.values, r.values);
  EXPECT_EQ(m->response.token, "tk");
}

// BEP 32: "want" goes out as a list of "n4"/"n6" only when asked for, and parses back; unknown
// entries and a "want" that is not a list are ignored.
TEST(Krpc, WantIsSentAndParsed) {
  const std::string both = build_find_node("aa", id_of('s'), id_of('t'), {.n4 = true, .n6 = true});
  EXPECT_NE(both.find("4:wantl2:n42:n6e"), std::string::npos) << both;
  auto m = parse_message(both);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->query.want, (Want{.n4 = true, .n6 = true}));

  auto six = parse_message(build_get_peers("ab", id_of('s'), id_of('h'), {.n6 = true}));
  ASSERT_TRUE(six.ok());
  EXPECT_EQ(six->query.want, (Want{.n4 = false, .n6 = true}));

  const std::string plain = build_get_peers("ac", id_of('s'), id_of('h'));
  EXPECT_EQ(plain.find("want"), std::string::npos);
  EXPECT_FALSE(parse_message(plain)->query.want.any());

  auto odd = parse_message(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n5i4e2:n4ee"
      "1:q9:find_node1:t2:aa1:y1:qe");
  ASSERT_TRUE(odd.ok()) << odd.error().message;
  EXPECT_EQ(odd->query.want, (Want{.n4 = true, .n6 = false}));
  auto not_list = parse_message(
      "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:want2:n6e"
      "1:q9:find_node1:t2:aa1:y1:qe");
  ASSERT_TRUE(not_list.ok());
  EXPECT_FALSE(not_list->query.want.any());
}

// A response as an IPv6 node sends it: `nodes6` of 38-byte entries and `values` of 18-byte
// compact peers, decoded to IPv6 endpoints; port-0 and partial entries dropped, capped.
TEST(Krpc, Nodes6AndValues6Decode) {
  const Endpoint a6 = *Endpoint::parse("[2001:db8::a]:6881");
  const Endpoint b6 = *Endpoint::parse("[2001:db8::b]:0");
  const Endpoint p6 = *Endpoint::parse("[fd00::7]:51413");
  std::string nodes6 = str(id_of('a')) + compact_endpoint(a6);
  ASSERT_EQ(nodes6.size(), kCompactNode6Size);
  EXPECT_EQ(nodes6.substr(20, 2), std::string("\x20\x01", 2));
  EXPECT_EQ(nodes6.substr(36), std::string("\x1a\xe1", 2));  // 6881 big-endian
  nodes6 += str(id_of('b')) + compact_endpoint(b6) + "partial";
  Value::List values{Value(compact_endpoint(p6)), Value(compact_endpoint(ep(4, 4)))};
  Value::Dict r{{"id", Value(std::string(20, 'i'))},
                {"nodes6", Value(nodes6)},
                {"token", Value("tk")},
                {"values", Value(std::move(values))}};
  Value::Dict d{{"r", Value(std::move(r))}, {"t", Value("aa")}, {"y", Value("r")}};
  auto m = parse_message(bencode::encode(Value(std::move(d))));
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->response.nodes.size(), 1u);
  EXPECT_EQ(m->response.nodes[0], (NodeInfo{id_of('a'), a6}));
  EXPECT_TRUE(m->response.nodes[0].endpoint.v6);
  ASSERT_EQ(m->response.values.size(), 2u);
  EXPECT_EQ(m->response.values[0], p6);
  EXPECT_EQ(m->response.values[1], ep(4, 4));

  std::string many;
  for (int i = 0; i < 100; ++i)
    many += compact_node({id_of('x'), a6});
  EXPECT_EQ(parse_compact_nodes(many, true).size(), kMaxNodes);
  EXPECT_TRUE(parse_compact_nodes(many.substr(0, kCompactNode6Size - 1), true).empty());
  // Read as the other family's entry size, the same bytes are not IPv6 nodes.
  for (const auto& n : parse_compact_nodes(nodes6, false))
    EXPECT_FALSE(n.endpoint.v6);
}

TEST(Krpc, ErrorRoundTrip) {
  auto m = parse_message(build_error("zz", ErrorCode::method_unknown, "no such method"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->error.code, ErrorCode::method_unknown);
  EXPECT_EQ(m->error.text, "no such method");
  auto long_text = parse_message(build_error("zz", ErrorCode::server, std::string(5000, 'x')));
  ASSERT_TRUE(long_text.ok());
  EXPECT_EQ(long_text->error.text.size(), kMaxErrorTextLength);
}

TEST(Krpc, UnknownMethodParsesForA204) {
  auto m = parse_message("d1:ad2:id20:abcdefghij0123456789e1:q6:vote_x1:t1:k1:y1:qe");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->query.method, Method::unknown);
  EXPECT_EQ(m->query.method_name, "vote_x");
}

TEST(Krpc, RejectsMalformedMessagesWithReasons) {
  const std::pair<std::string, std::string> cases[] = {
      {"not bencode", "invalid bencode"},
      {"li1ee", "not a dictionary"},
      {"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe", "transaction id"},
      {"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aae", "message type"},
      {"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:xe", "unknown message type"},
      {"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", "20-byte \"id\""},
      {"d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe", "target"},
      {"d1:ad2:id20:abcdefghij0123456789e1:q9:get_peers1:t2:aa1:y1:qe", "info_hash"},
      {"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881ee1:q13:"
       "announce_peer1:t2:aa1:y1:qe",
       "token"},
      {"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:"
       "xe1:q13:announce_peer1:t2:aa1:y1:qe",
       "out of range"},
      {"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234565:token1:xe1:q13:"
       "announce_peer1:t2:aa1:y1:qe",
       "without a port"},
      {"d1:rd2:id2:xxe1:t2:aa1:y1:re", "20-byte \"id\""},
      {"d1:eli201ee1:t2:aa1:y1:ee", "[code, text]"},
      {"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t33:" + std::string(33, 't') + "1:y1:qe",
       "transaction id"},
  };
  for (const auto& [packet, reason] : cases) {
    auto m = parse_message(packet);
    ASSERT_FALSE(m.ok()) << packet;
    EXPECT_NE(m.error().message.find(reason), std::string::npos)
        << packet << " -> " << m.error().message;
  }
}

TEST(Krpc, RefusesOversizedPacketsAndLongTokens) {
  std::string big = "d1:rd2:id20:abcdefghij01234567895:token" + std::to_string(kMaxMessageSize) +
                    ":" + std::string(kMaxMessageSize, 'x') + "e1:t2:aa1:y1:re";
  auto m = parse_message(big);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("max 8192"), std::string::npos) << m.error().message;

  auto long_token = parse_message(
      "d1:rd2:id20:abcdefghij01234567895:token65:" + std::string(65, 'k') + "e1:t2:aa1:y1:re");
  ASSERT_FALSE(long_token.ok());
}

TEST(Krpc, ValuesAreCappedAndFiltered) {
  Value::List values;
  for (int i = 0; i < 300; ++i) {
    values.emplace_back(compact_endpoint(ep(static_cast<std::uint8_t>(i), 1 + i)));
  }
  values.emplace_back(compact_endpoint(ep(1, 0)));  // port 0
  values.emplace_back(std::string("12345"));        // wrong size
  values.emplace_back(Value(7));                    // not a string
  Value::Dict r{{"id", Value(std::string(20, 'i'))}, {"values", Value(std::move(values))}};
  Value::Dict d{{"r", Value(std::move(r))}, {"t", Value("aa")}, {"y", Value("r")}};
  auto m = parse_message(bencode::encode(Value(std::move(d))));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->response.values.size(), kMaxValues);
  for (const auto& e : m->response.values)
    EXPECT_NE(e.port, 0);
}

TEST(Krpc, CompactNodesDropPartialEntriesAndPortZero) {
  std::string bytes = compact_node({id_of('a'), ep(1, 1)}) + compact_node({id_of('b'), ep(2, 0)}) +
                      compact_node({id_of('c'), ep(3, 3)}) + "partial";
  const auto nodes = parse_compact_nodes(bytes, false);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].id, id_of('a'));
  EXPECT_EQ(nodes[1].endpoint, ep(3, 3));
  EXPECT_EQ(parse_compact_nodes(bytes, false, 1).size(), 1u);

  std::string many;
  for (int i = 0; i < 100; ++i)
    many += compact_node({id_of('x'), ep(9, 9)});
  EXPECT_EQ(parse_compact_nodes(many, false).size(), kMaxNodes);
}

TEST(Krpc, CompactEndpoints) {
  EXPECT_EQ(compact_endpoint(ep(7, 0x1234)), std::string("\x0a\x00\x00\x07\x12\x34", 6));
  EXPECT_EQ(parse_compact_endpoint(std::string("\x0a\x00\x00\x07\x12\x34", 6)), ep(7, 0x1234));
  const Endpoint v6 = *Endpoint::parse("[::1]:80");
  EXPECT_EQ(compact_endpoint(v6).size(), 18u);
  EXPECT_EQ(parse_compact_endpoint(compact_endpoint(v6)), v6);
  EXPECT_FALSE(parse_compact_endpoint("12345").has_value());
}

TEST(Krpc, QueryTransactionIdOfRejectedQueries) {
  EXPECT_EQ(query_transaction_id("d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"), "aa");
  EXPECT_FALSE(query_transaction_id("d1:rd2:id3:abce1:t2:aa1:y1:re").has_value());
  EXPECT_FALSE(query_transaction_id("garbage").has_value());
  EXPECT_FALSE(query_transaction_id("d1:y1:qe").has_value());
}

TEST(Krpc, IgnoresUnknownKeysAndReadsReadOnlyFlag) {
  auto m = parse_message(
      "d1:ad2:id20:abcdefghij01234567893:zzzi5ee1:q4:ping2:roi1e1:t2:aa"
      "1:v4:LT\x01\x02"
      "1:y1:q5:zzzzzi0ee");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->query.read_only);  // BEP 43: "ro" at the top level
  EXPECT_EQ(m->version, "LT\x01\x02");
  auto in_args = parse_message("d1:ad2:id20:abcdefghij01234567892:roi1ee1:q4:ping1:t2:aa1:y1:qe");
  ASSERT_TRUE(in_args.ok());
  EXPECT_FALSE(in_args->query.read_only);
}

}  // namespace
}  // namespace torfs::dht
