// TorrentImpl: peer exchange (BEP 11). Every peer that speaks ut_pex is told, at most once a
// minute, which peers we are connected to (those whose listen address we know: outgoing
// connections, and incoming ones that sent a listen port), as a diff of at most 50 added and 50
// dropped peers. What peers tell us becomes connect candidates. Private torrents (BEP 27)
// neither send nor accept peer exchange.
#include "engine/net/torrent_impl.hpp"

namespace torfs {
using namespace std::chrono_literals;

namespace {
constexpr auto kSendInterval = 60s;
constexpr auto kMinReceiveInterval = 10s;  // more frequent messages are ignored
}  // namespace

void TorrentImpl::on_extensions(PeerConnection& peer, const wire::ExtensionHandshake& ext) {
  if (metainfo_.is_private) return;
  PexPeer& p = pex_[peer.key()];
  p.id = ext.id_of(ut_pex::kExtensionName).value_or(0);
  if (ext.listen_port) p.listen_port = *ext.listen_port;
}

void TorrentImpl::on_pex(PeerConnection& peer, std::string_view payload) {
  if (metainfo_.is_private || stopping_) return;
  PexPeer& p = pex_[peer.key()];
  const auto now = Clock::now();
  if (p.last_received != Clock::time_point{} && now - p.last_received < kMinReceiveInterval) {
    return;
  }
  p.last_received = now;
  auto msg = ut_pex::parse(payload);
  if (!msg) {
    ctx_.log(LogLevel::debug, metainfo_.name, ": ", peer.name(), ": ", msg.error().message);
    return;
  }
  std::vector<Endpoint> added;
  for (const ut_pex::Peer& a : msg->added)
    added.push_back(a.endpoint);
  ctx_.log(LogLevel::debug, metainfo_.name, ": ", peer.name(), " told us of ", added.size(),
           " peers (pex)");
  if (!added.empty()) add_candidates(added);
}

void TorrentImpl::pex_tick() {
  if (metainfo_.is_private || stopping_ || pex_.empty()) return;
  const auto now = Clock::now();
  std::set<Endpoint> current, seeds;
  for (auto& [key, peer] : peers_) {
    if (!peer->handshake_done || peer->closed()) continue;
    Endpoint ep = from_asio(peer->remote());
    if (!peer->outgoing()) {
      auto it = pex_.find(key);
      if (it == pex_.end() || it->second.listen_port == 0) continue;
      ep.port = it->second.listen_port;
    }
    current.insert(ep);
    if (peer->seed) seeds.insert(ep);
  }
  for (auto& [key, p] : pex_) {
    if (p.id == 0 || now - p.last_sent < kSendInterval) continue;
    auto it = peers_.find(key);
    if (it == peers_.end() || it->second->closed()) continue;
    // A peer is not told about itself.
    std::set<Endpoint> others = current;
    Endpoint self = from_asio(it->second->remote());
    others.erase(self);
    if (p.listen_port) {
      self.port = p.listen_port;
      others.erase(self);
    }
    auto msg = p.diff.next(others, seeds);
    if (!msg) continue;
    p.last_sent = now;
    it->second->send_extended(p.id, ut_pex::encode(*msg));
  }
}

}  // namespace torfs
