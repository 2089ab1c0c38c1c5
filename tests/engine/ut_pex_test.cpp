#include "engine/ut_pex.hpp"

#include <gtest/gtest.h>

#include <string>

namespace torfs::ut_pex {
namespace {

Endpoint v4(std::uint8_t last, std::uint16_t port) {
  return Endpoint::v4({10, 0, 0, last}, port);
}

TEST(UtPex, RoundTripIpv4AndIpv6WithFlags) {
  Message m;
  m.added.push_back({v4(1, 6881), kFlagSeed});
  m.added.push_back({*Endpoint::parse("[2001:db8::1]:51413"), kFlagReachable});
  m.dropped.push_back(v4(2, 1234));
  m.dropped.push_back(*Endpoint::parse("[::2]:7"));
  const std::string bytes = encode(m);
  auto back = parse(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->added, m.added);
  EXPECT_EQ(back->dropped, m.dropped);
}

TEST(UtPex, ParsesWhatLibtorrentSends) {
  // added: 127.0.0.3:6881, flags 0x12 (reachable, seed); no dropped peers.
  const std::string payload =
      std::string("d5:added6:\x7f\x00\x00\x03\x1a\xe1", 16) + "7:added.f1:\x12" + "7:dropped0:e";
  auto m = parse(payload);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->added.size(), 1u);
  EXPECT_EQ(m->added[0].endpoint.to_string(), "127.0.0.3:6881");
  EXPECT_EQ(m->added[0].flags, kFlagReachable | kFlagSeed);
  EXPECT_TRUE(m->dropped.empty());
}

TEST(UtPex, RejectsMalformedAndBoundsLists) {
  EXPECT_FALSE(parse("le"));
  EXPECT_FALSE(parse("d5:added5:abcdee"));  // not a multiple of 6
  EXPECT_FALSE(parse("d5:addedi3ee"));      // wrong type
  EXPECT_FALSE(parse(std::string(kMaxMessageSize + 1, 'd')));
  // Port 0 entries are skipped, missing flags mean 0.
  auto zero =
      parse(std::string("d5:added12:\x0a\x00\x00\x01\x00\x00\x0a\x00\x00\x02\x00\x07"
                        "e",
                        24));
  ASSERT_TRUE(zero) << zero.error().message;
  ASSERT_EQ(zero->added.size(), 1u);
  EXPECT_EQ(zero->added[0].endpoint.port, 7);
  EXPECT_EQ(zero->added[0].flags, 0);
  // A list longer than kMaxParsed is truncated.
  std::string many;
  for (std::size_t i = 0; i < kMaxParsed + 50; ++i)
    many += std::string("\x0a\x00", 2) + static_cast<char>(i >> 8) + static_cast<char>(i) +
            std::string("\x00\x01", 2);
  auto big = parse("d5:added" + std::to_string(many.size()) + ":" + many + "e");
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->added.size(), kMaxParsed);
}

TEST(UtPex, EncodeCapsAddedAndDropped) {
  Message m;
  for (std::uint8_t i = 0; i < 120; ++i) {
    m.added.push_back({v4(i, 1000), 0});
    m.dropped.push_back(v4(i, 2000));
  }
  auto back = parse(encode(m));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->added.size(), kMaxAdded);
  EXPECT_EQ(back->dropped.size(), kMaxDropped);
}

TEST(UtPex, DiffSendsOnlyChangesInBoundedSteps) {
  Diff diff;
  std::set<Endpoint> current;
  EXPECT_FALSE(diff.next(current));
  for (std::uint8_t i = 0; i < 70; ++i)
    current.insert(v4(i, 1));
  auto first = diff.next(current, {v4(0, 1)});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->added.size(), kMaxAdded);
  EXPECT_EQ(first->added[0].flags, kFlagReachable | kFlagSeed);
  auto second = diff.next(current);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->added.size(), 20u);
  EXPECT_FALSE(diff.next(current));
  current.erase(v4(3, 1));
  current.insert(v4(200, 1));
  auto third = diff.next(current);
  ASSERT_TRUE(third);
  ASSERT_EQ(third->added.size(), 1u);
  EXPECT_EQ(third->added[0].endpoint, v4(200, 1));
  ASSERT_EQ(third->dropped.size(), 1u);
  EXPECT_EQ(third->dropped[0], v4(3, 1));
  EXPECT_EQ(diff.sent(), current);
}

}  // namespace
}  // namespace torfs::ut_pex
