// Announce tokens and the store of announced peers (BEP 5), pure: callers pass `now`.
//
// A token is SHA-1(secret || requester IP) truncated to kTokenSize bytes. The secret rotates
// every kTokenRotation; a token made with the current or the previous secret is accepted, so a
// token stays valid for 5..10 minutes. The IP (not the port) is bound, as BEP 5 asks.
//
// The PeerStore is bounded in every dimension: kMaxPeersPerHash peers per info-hash,
// kMaxInfoHashes info-hashes, each entry forgotten kPeerLifetime after its last announce.
//
// Not thread-safe: owned by the DHT node's io_context thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace torfs::dht {

inline constexpr std::size_t kTokenSize = 8;
inline constexpr auto kTokenRotation = std::chrono::minutes(5);
inline constexpr std::size_t kMaxPeersPerHash = 100;
inline constexpr std::size_t kMaxInfoHashes = 2000;
inline constexpr auto kPeerLifetime = std::chrono::minutes(30);

class TokenManager {
 public:
  using Secret = std::array<std::uint8_t, 16>;
  using TimePoint = std::chrono::steady_clock::time_point;
  // `random_secret` makes every new secret (default: std::random_device); tests inject one.
  explicit TokenManager(TimePoint now, std::function<Secret()> random_secret = {});

  std::string make(const Endpoint& requester, TimePoint now);
  bool verify(std::string_view token, const Endpoint& requester, TimePoint now);

 private:
  void rotate_if_due(TimePoint now);
  std::string token_for(const Secret& secret, const Endpoint& requester) const;

  std::function<Secret()> random_secret_;
  Secret current_{}, previous_{};
  TimePoint rotated_at_;
};

class PeerStore {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Records (or refreshes) `peer` for `info_hash`. A full peer list drops its oldest entry; a
  // new info-hash when kMaxInfoHashes are stored evicts the one announced to least recently.
  void announce(const Sha1Hash& info_hash, const Endpoint& peer, TimePoint now);
  // Up to `max` unexpired peers of `info_hash` of the given address family, newest first.
  std::vector<Endpoint> peers(const Sha1Hash& info_hash, bool v6, std::size_t max,
                              TimePoint now) const;
  // Forgets expired entries (and info-hashes left without peers).
  void expire(TimePoint now);

  std::size_t info_hash_count() const { return swarms_.size(); }
  std::size_t peer_count(const Sha1Hash& info_hash) const;

 private:
  struct Entry {
    Endpoint peer;
    TimePoint announced;
  };
  struct Swarm {
    std::vector<Entry> entries;  // oldest first
    TimePoint last_announce;
  };
  std::map<Sha1Hash, Swarm> swarms_;
};

}  // namespace torfs::dht
