#include "cache/sha1.hpp"

#include <gtest/gtest.h>

#include <string>

namespace torfs {
namespace {

TEST(Sha1, KnownVectors) {
  EXPECT_EQ(to_hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(to_hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(to_hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(to_hex(sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Sha1, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i)
    data.push_back(static_cast<char>(i * 7 + i / 256));
  Sha1 h;
  std::size_t pos = 0;
  for (std::size_t step = 1; pos < data.size(); step = step * 3 + 1) {
    const std::size_t n = std::min(step, data.size() - pos);
    h.update(data.data() + pos, n);
    pos += n;
  }
  EXPECT_EQ(h.finish(), sha1(data));
}

TEST(Sha1, FinishResetsForReuse) {
  Sha1 h;
  h.update("garbage");
  h.finish();
  h.update("abc");
  EXPECT_EQ(to_hex(h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(h.finish(), sha1(""));
}

TEST(Sha1, HexRoundTrip) {
  const Sha1Hash h = sha1("round trip");
  const std::string hex = to_hex(h);
  ASSERT_EQ(hex.size(), 40u);
  EXPECT_EQ(sha1_from_hex(hex), h);
  std::string upper = hex;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(sha1_from_hex(upper), h);
}

TEST(Sha1, FromHexRejectsBadInput) {
  EXPECT_FALSE(sha1_from_hex(""));
  EXPECT_FALSE(sha1_from_hex(std::string(39, 'a')));
  EXPECT_FALSE(sha1_from_hex(std::string(41, 'a')));
  EXPECT_FALSE(sha1_from_hex(std::string(39, 'a') + "g"));
  EXPECT_FALSE(sha1_from_hex(std::string(38, 'a') + " a"));
  EXPECT_FALSE(sha1_from_hex(std::string(39, '0') + std::string(1, '\0')));
  EXPECT_TRUE(sha1_from_hex(std::string(40, 'F')));
}

}  // namespace
}  // namespace torfs
