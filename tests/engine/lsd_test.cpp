#include "engine/lsd.hpp"

#include <gtest/gtest.h>

#include <string>

namespace torfs::lsd {
namespace {

Sha1Hash hash_of(std::uint8_t b) {
  Sha1Hash h{};
  h.fill(b);
  return h;
}

TEST(Lsd, RoundTrip) {
  Announce a;
  a.port = 51413;
  a.info_hashes = {hash_of(0xab), hash_of(0x01)};
  a.cookie = "torfs-1234";
  const std::string bytes = encode(a);
  EXPECT_EQ(bytes.rfind("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n", 0), 0u);
  auto back = parse(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->port, 51413);
  EXPECT_EQ(back->info_hashes, a.info_hashes);
  EXPECT_EQ(back->cookie, "torfs-1234");
}

// BEP 14 over IPv6: the same message, the Host header naming the IPv6 group in brackets; it
// parses like an IPv4 one (receivers do not depend on Host).
TEST(Lsd, Ipv6AnnounceNamesTheIpv6Group) {
  Announce a;
  a.port = 6881;
  a.info_hashes = {hash_of(0x5a)};
  a.cookie = "c6";
  const std::string bytes = encode(a, true);
  EXPECT_EQ(bytes,
            "BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 6881\r\n"
            "Infohash: 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\r\ncookie: c6\r\n\r\n\r\n");
  auto back = parse(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->port, 6881);
  EXPECT_EQ(back->info_hashes, a.info_hashes);
  EXPECT_EQ(back->cookie, "c6");
  // Only the Host header differs between the families.
  std::string v4 = encode(a, false);
  v4.replace(v4.find("239.192.152.143"), 15, "[ff15::efc0:988f]");
  EXPECT_EQ(v4, bytes);
}

TEST(Lsd, ParsesLibtorrentStyleWithBareNewlinesAndOddCase) {
  auto a = parse("BT-SEARCH * HTTP/1.1\nhost: 239.192.152.143:6771\nport:  6881\ninfohash: " +
                 std::string(40, 'F') + "\nX-Unknown: 1\n\n");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->port, 6881);
  ASSERT_EQ(a->info_hashes.size(), 1u);
  EXPECT_EQ(a->info_hashes[0], hash_of(0xff));
  EXPECT_TRUE(a->cookie.empty());
}

TEST(Lsd, RejectsMalformed) {
  const std::string ih = "Infohash: " + std::string(40, 'a') + "\r\n";
  EXPECT_FALSE(parse(""));
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nPort: 1\r\n" + ih));
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\n" + ih));                 // no port
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n" + ih));      // port 0
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\n" + ih));  // port range
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 12x\r\n" + ih));    // junk
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n"));           // no infohash
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: abc\r\n"));
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nnocolon\r\n" + ih));
  EXPECT_FALSE(parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n" + ih + std::string(kMaxDatagram, ' ')));
}

TEST(Lsd, InfoHashesAreBounded) {
  Announce a;
  a.port = 1;
  for (int i = 0; i < 40; ++i)
    a.info_hashes.push_back(hash_of(static_cast<std::uint8_t>(i)));
  auto back = parse(encode(a));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->info_hashes.size(), kMaxInfoHashes);
}

}  // namespace
}  // namespace torfs::lsd
