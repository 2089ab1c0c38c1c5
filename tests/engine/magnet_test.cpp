#include "engine/magnet.hpp"

#include <gtest/gtest.h>

#include <string>

namespace torfs {
namespace {

constexpr std::string_view kHex = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
// The same 20 bytes in RFC 4648 base32 (python3 base64.b32encode).
constexpr std::string_view kBase32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";

std::string error_of(std::string_view uri, const MagnetLimits& limits = {}) {
  auto m = parse_magnet(uri, limits);
  return m ? std::string() : m.error().message;
}

TEST(Magnet, ParsesHexInfoHashNameTrackersPeersAndWebSeeds) {
  const std::string uri = "magnet:?xt=urn:btih:" + std::string(kHex) +
                          "&dn=My+File%20%28v2%29.iso"
                          "&tr=http%3A%2F%2Ftracker.example%3A6969%2Fannounce"
                          "&tr=udp://t2.example:80"
                          "&x.pe=127.0.0.2:6881&x.pe=%5B::1%5D:51413"
                          "&ws=http://seed.example/files/";
  auto m = parse_magnet(uri);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(kHex, to_hex(m->info_hash));
  EXPECT_EQ("My File (v2).iso", m->display_name);
  EXPECT_EQ(
      (std::vector<std::string>{"http://tracker.example:6969/announce", "udp://t2.example:80"}),
      m->trackers);
  ASSERT_EQ(2u, m->peers.size());
  EXPECT_EQ("127.0.0.2:6881", m->peers[0].to_string());
  EXPECT_EQ("[::1]:51413", m->peers[1].to_string());
  EXPECT_EQ(std::vector<std::string>{"http://seed.example/files/"}, m->web_seeds);
}

TEST(Magnet, AcceptsBase32AndUppercaseHex) {
  auto b32 = parse_magnet("magnet:?xt=urn:btih:" + std::string(kBase32));
  ASSERT_TRUE(b32) << b32.error().message;
  EXPECT_EQ(kHex, to_hex(b32->info_hash));

  std::string upper(kBase32);
  for (auto& c : upper)
    c = static_cast<char>(std::tolower(c));
  auto lower32 = parse_magnet("magnet:?xt=urn:btih:" + upper);
  ASSERT_TRUE(lower32);
  EXPECT_EQ(kHex, to_hex(lower32->info_hash));

  auto hex = parse_magnet("MAGNET:?XT=URN:BTIH:C12FE1C06BBA254A9DC9F519B335AA7C1367A88A");
  // Parameter names are case-sensitive ("XT" is unknown), so this has no xt at all.
  EXPECT_FALSE(hex);
  auto upper_hex = parse_magnet("Magnet:?xt=URN:BTIH:C12FE1C06BBA254A9DC9F519B335AA7C1367A88A");
  ASSERT_TRUE(upper_hex) << upper_hex.error().message;
  EXPECT_EQ(kHex, to_hex(upper_hex->info_hash));
}

TEST(Magnet, UsesTheFirstBtihAmongSeveralExactTopics) {
  auto m = parse_magnet("magnet:?xt=urn:btmh:1220abcd&xt.1=urn:sha1:XYZ&xt.2=urn:btih:" +
                        std::string(kHex) + "&xt=urn:btih:" + std::string(40, '0'));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(kHex, to_hex(m->info_hash));
}

TEST(Magnet, IgnoresUnknownAndMalformedOptionalParameters) {
  auto m = parse_magnet("magnet:?&&foo=%zz&xl=10&novalue&xt=urn:btih:" + std::string(kHex) +
                        "&x.pe=host.example:6881&x.pe=1.2.3.4&tr=&tr=a&tr.1=a&ws=w&ws=w");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->display_name.empty());
  EXPECT_TRUE(m->peers.empty());  // hostnames are not resolved here; no port is malformed
  EXPECT_EQ(std::vector<std::string>{"a"}, m->trackers);  // empty and duplicate dropped
  EXPECT_EQ(std::vector<std::string>{"w"}, m->web_seeds);
}

TEST(Magnet, RejectsMissingOrInvalidInfoHash) {
  EXPECT_EQ("magnet: no xt=urn:btih: parameter", error_of("magnet:?dn=x&tr=http://t/"));
  EXPECT_EQ("magnet: no xt=urn:btih: parameter", error_of("magnet:?xt=urn:btmh:1220ab"));
  EXPECT_EQ("magnet: invalid info-hash in 'xt' (want 40 hex or 32 base32 digits) at byte 8",
            error_of("magnet:?xt=urn:btih:" + std::string(39, 'a')));
  EXPECT_EQ("magnet: invalid info-hash in 'xt' (want 40 hex or 32 base32 digits) at byte 13",
            error_of("magnet:?dn=a&xt=urn:btih:" + std::string(39, 'g') + "a"));
  // '1' and '8' are not base32 digits.
  EXPECT_FALSE(parse_magnet("magnet:?xt=urn:btih:" + std::string(31, 'A') + "1"));
  EXPECT_EQ("magnet: not a magnet URI (want 'magnet:?')", error_of("http://example.com/?xt=1"));
  EXPECT_EQ("magnet: not a magnet URI (want 'magnet:?')", error_of("magnet:"));
  EXPECT_EQ("magnet: not a magnet URI (want 'magnet:?')", error_of(""));
}

TEST(Magnet, RejectsBadPercentEscapesInKnownParameters) {
  const std::string base = "magnet:?xt=urn:btih:" + std::string(kHex);
  EXPECT_EQ("magnet: invalid percent-escape in 'dn' at byte 66", error_of(base + "&dn=ab%G0"));
  EXPECT_EQ("magnet: invalid percent-escape in 'tr' at byte 65", error_of(base + "&tr=a%4"));
  EXPECT_EQ("magnet: invalid percent-escape in 'tr' at byte 64", error_of(base + "&tr=%"));
}

TEST(Magnet, IsBounded) {
  const std::string base = "magnet:?xt=urn:btih:" + std::string(kHex);
  std::string many = base;
  for (int i = 0; i < 199; ++i)
    many += "&x=1";
  EXPECT_TRUE(parse_magnet(many));  // 200 parameters
  many += "&x=1";
  EXPECT_EQ("magnet: more than 200 parameters at byte " + std::to_string(many.size() - 3),
            error_of(many));

  const std::string longest = base + "&dn=" + std::string(64 * 1024 - base.size() - 4, 'n');
  EXPECT_TRUE(parse_magnet(longest));
  EXPECT_EQ("magnet: URI of 65537 bytes exceeds the limit of 65536", error_of(longest + "n"));
  EXPECT_EQ(std::errc::value_too_large,
            static_cast<std::errc>(parse_magnet(longest + "n").error().code.value()));
}

TEST(Magnet, ToMagnetUriRoundTrips) {
  Magnet m;
  m.info_hash = *sha1_from_hex(kHex);
  m.display_name = "a b+c&d=e%/\xc3\xa9";
  m.trackers = {"http://t.example/announce?x=1&y=2", "udp://u.example:1337"};
  m.web_seeds = {"http://ws.example/a b/"};
  m.peers = {*Endpoint::parse("10.0.0.1:1"), *Endpoint::parse("[fe80::1]:65535")};
  const std::string uri = to_magnet_uri(m);
  EXPECT_EQ(0u, uri.find("magnet:?xt=urn:btih:" + std::string(kHex) +
                         "&dn=a%20b%2Bc%26d%3De%25%2F%C3%A9&tr=http%3A%2F%2Ft.example"));
  auto back = parse_magnet(uri);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(m, *back);

  Magnet bare;
  bare.info_hash = *sha1_from_hex(kHex);
  EXPECT_EQ("magnet:?xt=urn:btih:" + std::string(kHex), to_magnet_uri(bare));
}

}  // namespace
}  // namespace torfs
