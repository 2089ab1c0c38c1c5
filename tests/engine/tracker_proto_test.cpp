#include "engine/tracker_proto.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/bencode.hpp"

namespace torfs {
namespace {

using bencode::Value;

AnnounceParams sample_params() {
  AnnounceParams p;
  for (int i = 0; i < 20; ++i) {
    p.info_hash[i] = static_cast<std::uint8_t>(i * 13);  // includes 0x00 and bytes >= 0x80
    p.peer_id[i] = static_cast<std::uint8_t>("-TF0001-abcdefghijkl"[i]);
  }
  p.listen_port = 6881;
  p.uploaded = 1;
  p.downloaded = 2;
  p.left = 5'000'000'000ULL;  // above 2^32
  p.numwant = 50;
  p.key = 0xDEADBEEF;
  p.event = AnnounceEvent::started;
  return p;
}

std::string compact(const std::vector<std::pair<std::array<std::uint8_t, 4>, std::uint16_t>>& ps) {
  std::string s;
  for (const auto& [a, port] : ps) {
    s.append(reinterpret_cast<const char*>(a.data()), 4);
    s += static_cast<char>(port >> 8);
    s += static_cast<char>(port & 0xff);
  }
  return s;
}

std::string body(Value::Dict d) {
  return bencode::encode(Value(std::move(d)));
}

TEST(PercentEncode, KeepsUnreservedAndEncodesEverythingElse) {
  EXPECT_EQ("aZ09-._~", percent_encode("aZ09-._~"));
  EXPECT_EQ("%00%20%2F%3F%26%25%FF", percent_encode(std::string("\0 /?&%\xff", 7)));
}

TEST(AnnounceUrl, EncodesBinaryFieldsAndAllParameters) {
  const std::string url = build_announce_url("http://t.example/announce", sample_params(), {});
  const std::string hash = percent_encode(
      std::string_view(reinterpret_cast<const char*>(sample_params().info_hash.data()), 20));
  EXPECT_EQ("http://t.example/announce?info_hash=" + hash +
                "&peer_id=-TF0001-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=5000000000"
                "&key=DEADBEEF&numwant=50&compact=1&no_peer_id=1&event=started",
            url);
  EXPECT_EQ(0u, hash.find("%00%0D%1A%274AN"));
}

TEST(AnnounceUrl, KeepsExistingQueryAndDropsFragment) {
  AnnounceParams p = sample_params();
  p.event = AnnounceEvent::none;
  const std::string url = build_announce_url("http://t/a?passkey=xyz#frag", p, {});
  EXPECT_EQ(0u, url.find("http://t/a?passkey=xyz&info_hash="));
  EXPECT_EQ(std::string::npos, url.find("frag"));
  EXPECT_EQ(std::string::npos, url.find("event="));
  EXPECT_EQ(0u, build_announce_url("http://t/a?", p, {}).find("http://t/a?info_hash="));
  EXPECT_EQ(0u, build_announce_url("http://t/a?x=1&", p, {}).find("http://t/a?x=1&info_hash="));
}

TEST(AnnounceUrl, EventsAndTrackerId) {
  AnnounceParams p = sample_params();
  p.event = AnnounceEvent::completed;
  EXPECT_NE(std::string::npos, build_announce_url("http://t/a", p, {}).find("&event=completed"));
  p.event = AnnounceEvent::stopped;
  const std::string url = build_announce_url("http://t/a", p, std::string("id 1"));
  EXPECT_NE(std::string::npos, url.find("&event=stopped&trackerid=id%201"));
}

TEST(HttpResponse, CompactPeersAndFields) {
  const auto r = parse_http_announce_response(
      body({{"interval", 900},
            {"min interval", 120},
            {"complete", 3},
            {"incomplete", 4},
            {"warning message", "be nice"},
            {"tracker id", "abc"},
            {"peers", compact({{{10, 0, 0, 1}, 6881}, {{10, 0, 0, 2}, 80}})}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(2u, r->peers.size());
  EXPECT_EQ("10.0.0.1:6881", r->peers[0].to_string());
  EXPECT_EQ("10.0.0.2:80", r->peers[1].to_string());
  EXPECT_EQ(900u, r->interval);
  EXPECT_EQ(120u, r->min_interval.value());
  EXPECT_EQ(3u, r->complete.value());
  EXPECT_EQ(4u, r->incomplete.value());
  EXPECT_EQ("be nice", r->warning);
  EXPECT_EQ("abc", r->tracker_id.value());
}

TEST(HttpResponse, DefaultsWhenOptionalFieldsAreMissing) {
  const auto r = parse_http_announce_response(body({{"peers", ""}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->peers.empty());
  EXPECT_EQ(1800u, r->interval);
  EXPECT_FALSE(r->min_interval || r->complete || r->incomplete || r->tracker_id);
}

TEST(HttpResponse, OddCompactLengthUsesWholeEntriesOnly) {
  std::string peers = compact({{{1, 2, 3, 4}, 1000}, {{5, 6, 7, 8}, 2000}});
  peers += "\x09\x09\x09";  // a partial third entry
  const auto r = parse_http_announce_response(body({{"peers", peers}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(2u, r->peers.size());
  EXPECT_EQ("5.6.7.8:2000", r->peers[1].to_string());
  const auto tiny = parse_http_announce_response(body({{"peers", "abc"}}));
  ASSERT_TRUE(tiny.ok());
  EXPECT_TRUE(tiny->peers.empty());
}

TEST(HttpResponse, PortZeroIsDropped) {
  const auto r = parse_http_announce_response(
      body({{"peers", compact({{{1, 1, 1, 1}, 0}, {{2, 2, 2, 2}, 7}})}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(1u, r->peers.size());
  EXPECT_EQ("2.2.2.2:7", r->peers[0].to_string());
}

TEST(HttpResponse, IntervalsAreClamped) {
  for (const auto& [given, expected] :
       std::vector<std::pair<std::int64_t, std::uint32_t>>{{0, kMinInterval},
                                                           {-5, kMinInterval},
                                                           {59, kMinInterval},
                                                           {60, 60},
                                                           {86'400, 86'400},
                                                           {std::int64_t{1} << 31, kMaxInterval},
                                                           {std::int64_t{1} << 62, kMaxInterval}}) {
    const auto r = parse_http_announce_response(
        body({{"interval", Value(given)}, {"min interval", Value(given)}, {"peers", ""}}));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(expected, r->interval) << given;
    EXPECT_EQ(expected, r->min_interval.value()) << given;
  }
}

TEST(HttpResponse, DictionaryPeers) {
  Value::List peers;
  peers.push_back(Value::Dict{{"ip", "192.168.1.9"}, {"port", 51413}, {"peer id", "x"}});
  peers.push_back(Value::Dict{{"ip", "2001:db8::1"}, {"port", 6881}});
  peers.push_back(Value::Dict{{"ip", "tracker.example"}, {"port", 1}});  // host name: dropped
  peers.push_back(Value::Dict{{"ip", "1.2.3.4"}, {"port", 0}});          // port 0
  peers.push_back(Value::Dict{{"ip", "1.2.3.4"}, {"port", 70000}});      // out of range
  peers.push_back(Value::Dict{{"port", 5}});                             // no ip
  peers.push_back(Value("not a dict"));
  const auto r = parse_http_announce_response(body({{"peers", Value(std::move(peers))}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(2u, r->peers.size());
  EXPECT_EQ("192.168.1.9:51413", r->peers[0].to_string());
  EXPECT_EQ("[2001:db8::1]:6881", r->peers[1].to_string());
}

TEST(HttpResponse, Peers6) {
  std::string p6(16, '\0');
  p6[15] = 1;  // ::1
  p6 += "\x1a\xe1";
  p6 += std::string(18, '\0');  // port 0: dropped
  p6 += "\x01\x02";             // partial entry: ignored
  const auto r = parse_http_announce_response(body({{"peers6", p6}}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(1u, r->peers.size());
  EXPECT_EQ("[::1]:6881", r->peers[0].to_string());
}

TEST(HttpResponse, PeersAreCapped) {
  std::string peers;
  for (int i = 0; i < 3000; ++i) {
    peers += compact({{{10, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 1},
                       static_cast<std::uint16_t>(1000 + i)}});
  }
  const auto r = parse_http_announce_response(body({{"peers", peers}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(kMaxPeers, r->peers.size());
}

TEST(HttpResponse, FailureReasonIsAnErrorWithTheText) {
  const auto r = parse_http_announce_response(
      body({{"failure reason", "torrent not registered"}, {"peers", ""}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ("torrent not registered", r.error().message);
  EXPECT_EQ(std::make_error_code(std::errc::connection_refused), r.error().code);
}

TEST(HttpResponse, MalformedBodiesAreErrors) {
  for (const std::string& bad : std::vector<std::string>{
           "", "<html>502 Bad Gateway</html>", "le", "d5:peersi3ee", "d8:intervali5ee", "d5:peers",
           "i5e", std::string(kMaxHttpBody + 1, 'x')}) {
    const auto r = parse_http_announce_response(bad);
    ASSERT_FALSE(r.ok()) << bad.substr(0, 40);
    EXPECT_EQ(std::make_error_code(std::errc::protocol_error), r.error().code);
    EXPECT_NE(std::string::npos, r.error().message.find("tracker response")) << r.error().message;
  }
}

TEST(HttpResponse, ToleratesUnsortedKeysAndTrailingNewline) {
  const auto r = parse_http_announce_response("d8:intervali120e5:peers0:1:ai1ee\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(120u, r->interval);
}

TEST(HttpResponse, ControlCharactersInTextsAreReplaced) {
  const auto r =
      parse_http_announce_response(body({{"warning message", "a\nb\x1b[31m"}, {"peers", ""}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ("a?b?[31m", r->warning);
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
  std::vector<std::uint8_t> out;
  for (int b : v)
    out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

TEST(Udp, ConnectRequest) {
  const auto p = build_udp_connect(0x01020304);
  EXPECT_EQ(bytes({0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4}),
            std::vector<std::uint8_t>(p.begin(), p.end()));
}

TEST(Udp, ConnectResponse) {
  const auto good = bytes({0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8});
  const auto r = parse_udp_connect(good, 9);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(0x0102030405060708ULL, r->connection_id);

  const auto foreign = parse_udp_connect(good, 10);
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(is_foreign_udp_packet(foreign.error()));

  const auto short_packet = parse_udp_connect(bytes({0, 0, 0, 0, 0, 0, 0, 9, 1}), 9);
  ASSERT_FALSE(short_packet.ok());
  EXPECT_FALSE(is_foreign_udp_packet(short_packet.error()));
  EXPECT_TRUE(is_foreign_udp_packet(parse_udp_connect(bytes({0, 0, 0}), 9).error()));

  const auto wrong_action =
      parse_udp_connect(bytes({0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8}), 9);
  EXPECT_FALSE(wrong_action.ok());
}

TEST(Udp, ErrorActionCarriesTheMessage) {
  auto p = bytes({0, 0, 0, 3, 0, 0, 0, 7});
  const std::string text = "unregistered torrent";
  p.insert(p.end(), text.begin(), text.end());
  const auto c = parse_udp_connect(p, 7);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(text, c.error().message);
  const auto a = parse_udp_announce(p, 7);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(text, a.error().message);
  EXPECT_FALSE(is_foreign_udp_packet(a.error()));
  EXPECT_TRUE(is_foreign_udp_packet(parse_udp_announce(p, 8).error()));
}

TEST(Udp, AnnounceRequestLayout) {
  const AnnounceParams params = sample_params();
  const auto p = build_udp_announce(0x1122334455667788ULL, 0xAABBCCDD, params);
  ASSERT_EQ(kUdpAnnounceSize, p.size());
  EXPECT_EQ(
      bytes({0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD}),
      std::vector<std::uint8_t>(p.begin(), p.begin() + 16));
  EXPECT_TRUE(std::equal(params.info_hash.begin(), params.info_hash.end(), p.begin() + 16));
  EXPECT_TRUE(std::equal(params.peer_id.begin(), params.peer_id.end(), p.begin() + 36));
  EXPECT_EQ(bytes({0, 0, 0, 0, 0, 0, 0, 2}),
            std::vector<std::uint8_t>(p.begin() + 56, p.begin() + 64));
  EXPECT_EQ(bytes({0, 0, 0, 1, 0x2a, 0x05, 0xf2, 0}),  // 5'000'000'000
            std::vector<std::uint8_t>(p.begin() + 64, p.begin() + 72));
  EXPECT_EQ(bytes({0, 0, 0, 0, 0, 0, 0, 1}),
            std::vector<std::uint8_t>(p.begin() + 72, p.begin() + 80));
  EXPECT_EQ(bytes({0, 0, 0, 2, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 50, 0x1a, 0xe1}),
            std::vector<std::uint8_t>(p.begin() + 80, p.end()));
}

TEST(Udp, AnnounceEventNumbers) {
  AnnounceParams params = sample_params();
  const std::pair<AnnounceEvent, int> cases[] = {{AnnounceEvent::none, 0},
                                                 {AnnounceEvent::completed, 1},
                                                 {AnnounceEvent::started, 2},
                                                 {AnnounceEvent::stopped, 3}};
  for (const auto& [event, number] : cases) {
    params.event = event;
    EXPECT_EQ(number, build_udp_announce(1, 1, params)[83]);
  }
}

TEST(Udp, UrlDataOptionIsSplitInto255ByteChunks) {
  const std::string path = "/announce?passkey=" + std::string(300, 'k');
  const auto p = build_udp_announce(1, 2, sample_params(), path);
  ASSERT_EQ(kUdpAnnounceSize + 2 + 255 + 2 + (path.size() - 255), p.size());
  EXPECT_EQ(2, p[98]);
  EXPECT_EQ(255, p[99]);
  EXPECT_EQ('/', p[100]);
  EXPECT_EQ(2, p[100 + 255]);
  EXPECT_EQ(path.size() - 255, p[101 + 255]);
  EXPECT_EQ(std::string(path.begin() + 255, path.end()),
            std::string(p.begin() + 102 + 255, p.end()));
}

TEST(Udp, AnnounceResponse) {
  auto p = bytes({0,   0, 0, 1, 0,    0,    0, 5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0,  0, 3,  //
                  127, 0, 0, 1, 0x1a, 0xe1, 9, 9, 9, 9, 0, 0, 8, 8, 8, 8, 0, 80, 7, 7});
  const auto r = parse_udp_announce(p, 5);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(kMinInterval, r->interval);  // 0 clamped
  EXPECT_EQ(2u, r->incomplete.value());
  EXPECT_EQ(3u, r->complete.value());
  ASSERT_EQ(2u, r->peers.size());  // port 0 dropped, odd tail ignored
  EXPECT_EQ("127.0.0.1:6881", r->peers[0].to_string());
  EXPECT_EQ("8.8.8.8:80", r->peers[1].to_string());

  p[8] = 0x80;  // interval 2^31
  EXPECT_EQ(kMaxInterval, parse_udp_announce(p, 5)->interval);
  EXPECT_TRUE(is_foreign_udp_packet(parse_udp_announce(p, 6).error()));
  EXPECT_FALSE(parse_udp_announce(std::span(p).first(19), 5).ok());
}

TEST(Udp, AnnounceResponseIpv6Peers) {
  auto p = bytes({0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0});
  for (int i = 0; i < 15; ++i)
    p.push_back(0);
  p.push_back(1);
  p.push_back(0);
  p.push_back(99);
  const auto r = parse_udp_announce(p, 5, true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(1u, r->peers.size());
  EXPECT_EQ("[::1]:99", r->peers[0].to_string());
  EXPECT_EQ(0x708u, r->interval);
}

}  // namespace
}  // namespace torfs
