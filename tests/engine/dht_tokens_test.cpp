#include "engine/dht_tokens.hpp"

#include <gtest/gtest.h>

namespace torfs::dht {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

const TimePoint t0 = TimePoint{} + 1h;

TokenManager::Secret counter_secret() {
  static std::uint8_t n = 0;
  TokenManager::Secret s{};
  s[0] = ++n;
  return s;
}

Endpoint v4(std::uint8_t last, std::uint16_t port = 6881) {
  return Endpoint::v4({192, 0, 2, last}, port);
}

TEST(Tokens, BoundToTheIpNotThePort) {
  TokenManager tm(t0, counter_secret);
  const std::string tok = tm.make(v4(1), t0);
  EXPECT_EQ(tok.size(), kTokenSize);
  EXPECT_TRUE(tm.verify(tok, v4(1), t0 + 1s));
  EXPECT_TRUE(tm.verify(tok, v4(1, 9999), t0 + 1s));
  EXPECT_FALSE(tm.verify(tok, v4(2), t0 + 1s));
  EXPECT_FALSE(tm.verify(tok.substr(1), v4(1), t0 + 1s));
  EXPECT_FALSE(tm.verify("", v4(1), t0));
  const Endpoint six = *Endpoint::parse("[2001:db8::1]:1");
  const std::string tok6 = tm.make(six, t0);
  EXPECT_TRUE(tm.verify(tok6, six, t0));
  EXPECT_FALSE(tm.verify(tok6, v4(1), t0));
}

TEST(Tokens, PreviousSecretStillAcceptedThenExpires) {
  TokenManager tm(t0, counter_secret);
  const std::string tok = tm.make(v4(1), t0);
  EXPECT_TRUE(tm.verify(tok, v4(1), t0 + 6min));    // one rotation: previous secret
  EXPECT_NE(tm.make(v4(1), t0 + 6min), tok);        // new tokens use the new secret
  EXPECT_FALSE(tm.verify(tok, v4(1), t0 + 12min));  // two rotations: gone
}

TEST(Tokens, LongIdleGapInvalidatesEverything) {
  TokenManager tm(t0, counter_secret);
  const std::string tok = tm.make(v4(1), t0);
  EXPECT_FALSE(tm.verify(tok, v4(1), t0 + 11min));
}

TEST(Tokens, DifferentManagersDisagree) {
  TokenManager a(t0), b(t0);
  EXPECT_FALSE(b.verify(a.make(v4(1), t0), v4(1), t0));
}

Sha1Hash hash_of(int n) {
  return sha1("swarm " + std::to_string(n));
}

TEST(PeerStore, StoresRefreshesAndReturnsNewestFirst) {
  PeerStore s;
  s.announce(hash_of(1), v4(1), t0);
  s.announce(hash_of(1), v4(2), t0 + 1s);
  s.announce(hash_of(1), v4(1), t0 + 2s);  // refresh moves it to the front
  const auto peers = s.peers(hash_of(1), false, 10, t0 + 3s);
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0], v4(1));
  EXPECT_EQ(peers[1], v4(2));
  EXPECT_EQ(s.peers(hash_of(1), false, 1, t0 + 3s).size(), 1u);
  EXPECT_TRUE(s.peers(hash_of(1), true, 10, t0 + 3s).empty());
  EXPECT_TRUE(s.peers(hash_of(2), false, 10, t0).empty());
}

TEST(PeerStore, PeersPerHashAreCapped) {
  PeerStore s;
  for (int i = 0; i < 250; ++i) {
    s.announce(hash_of(1), v4(1, static_cast<std::uint16_t>(1000 + i)),
               t0 + std::chrono::seconds(i));
  }
  EXPECT_EQ(s.peer_count(hash_of(1)), kMaxPeersPerHash);
  const auto peers = s.peers(hash_of(1), false, 1000, t0 + 300s);
  ASSERT_EQ(peers.size(), kMaxPeersPerHash);
  EXPECT_EQ(peers.front().port, 1249);  // the oldest were dropped
  EXPECT_EQ(peers.back().port, 1150);
}

TEST(PeerStore, InfoHashesAreCappedEvictingTheStalest) {
  PeerStore s;
  for (int i = 0; i < static_cast<int>(kMaxInfoHashes) + 10; ++i) {
    s.announce(hash_of(i), v4(1), t0 + std::chrono::milliseconds(i));
  }
  EXPECT_EQ(s.info_hash_count(), kMaxInfoHashes);
  EXPECT_EQ(s.peer_count(hash_of(0)), 0u);
  EXPECT_EQ(s.peer_count(hash_of(static_cast<int>(kMaxInfoHashes) + 9)), 1u);
}

TEST(PeerStore, EntriesExpire) {
  PeerStore s;
  s.announce(hash_of(1), v4(1), t0);
  s.announce(hash_of(1), v4(2), t0 + 20min);
  EXPECT_EQ(s.peers(hash_of(1), false, 10, t0 + 31min).size(), 1u);  // filtered before expiry
  s.expire(t0 + 31min);
  EXPECT_EQ(s.peer_count(hash_of(1)), 1u);
  s.expire(t0 + 51min);
  EXPECT_EQ(s.info_hash_count(), 0u);
}

}  // namespace
}  // namespace torfs::dht
