#include "engine/dht_tokens.hpp"

#include <algorithm>
#include <random>

namespace torfs::dht {
namespace {

TokenManager::Secret system_random_secret() {
  std::random_device rd;
  TokenManager::Secret s;
  for (auto& b : s)
    b = static_cast<std::uint8_t>(rd());
  return s;
}

}  // namespace

TokenManager::TokenManager(TimePoint now, std::function<Secret()> random_secret)
    : random_secret_(random_secret ? std::move(random_secret) : system_random_secret),
      rotated_at_(now) {
  current_ = random_secret_();
  previous_ = random_secret_();
}

void TokenManager::rotate_if_due(TimePoint now) {
  if (now - rotated_at_ < kTokenRotation) return;
  // After a long idle gap both secrets are stale: tokens older than two periods must fail.
  previous_ = now - rotated_at_ >= 2 * kTokenRotation ? random_secret_() : current_;
  current_ = random_secret_();
  rotated_at_ = now;
}

std::string TokenManager::token_for(const Secret& secret, const Endpoint& requester) const {
  Sha1 h;
  h.update(secret.data(), secret.size());
  h.update(requester.address.data(), requester.v6 ? 16 : 4);
  const Sha1Hash digest = h.finish();
  return std::string(reinterpret_cast<const char*>(digest.data()), kTokenSize);
}

std::string TokenManager::make(const Endpoint& requester, TimePoint now) {
  rotate_if_due(now);
  return token_for(current_, requester);
}

bool TokenManager::verify(std::string_view token, const Endpoint& requester, TimePoint now) {
  rotate_if_due(now);
  if (token.size() != kTokenSize) return false;
  return token == token_for(current_, requester) || token == token_for(previous_, requester);
}

void PeerStore::announce(const Sha1Hash& info_hash, const Endpoint& peer, TimePoint now) {
  auto it = swarms_.find(info_hash);
  if (it == swarms_.end()) {
    if (swarms_.size() >= kMaxInfoHashes) {
      expire(now);
      if (swarms_.size() >= kMaxInfoHashes) {
        auto stalest = std::min_element(swarms_.begin(), swarms_.end(), [](auto& a, auto& b) {
          return a.second.last_announce < b.second.last_announce;
        });
        swarms_.erase(stalest);
      }
    }
    it = swarms_.emplace(info_hash, Swarm{}).first;
  }
  Swarm& swarm = it->second;
  swarm.last_announce = now;
  auto& entries = swarm.entries;
  std::erase_if(entries, [&](const Entry& e) { return e.peer == peer; });
  if (entries.size() >= kMaxPeersPerHash) entries.erase(entries.begin());
  entries.push_back(Entry{peer, now});
}

std::vector<Endpoint> PeerStore::peers(const Sha1Hash& info_hash, bool v6, std::size_t max,
                                       TimePoint now) const {
  std::vector<Endpoint> out;
  const auto it = swarms_.find(info_hash);
  if (it == swarms_.end()) return out;
  const auto& entries = it->second.entries;
  for (auto e = entries.rbegin(); e != entries.rend() && out.size() < max; ++e) {
    if (e->peer.v6 == v6 && now - e->announced < kPeerLifetime) out.push_back(e->peer);
  }
  return out;
}

void PeerStore::expire(TimePoint now) {
  for (auto it = swarms_.begin(); it != swarms_.end();) {
    std::erase_if(it->second.entries,
                  [&](const Entry& e) { return now - e.announced >= kPeerLifetime; });
    it = it->second.entries.empty() ? swarms_.erase(it) : std::next(it);
  }
}

std::size_t PeerStore::peer_count(const Sha1Hash& info_hash) const {
  const auto it = swarms_.find(info_hash);
  return it == swarms_.end() ? 0 : it->second.entries.size();
}

}  // namespace torfs::dht
