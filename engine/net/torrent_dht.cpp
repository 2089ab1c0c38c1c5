// TorrentImpl: finding peers through the session's DHT node (BEP 5) and local service
// discovery (BEP 14). A torrent looks itself up in the DHT (and announces our listen port) at
// start and every 15 minutes, every minute while it wants data and has no peer; it multicasts
// an LSD announce at start and every 5 minutes. Private torrents (BEP 27) use neither.
#include "engine/net/dht_node.hpp"
#include "engine/net/lsd.hpp"
#include "engine/net/torrent_impl.hpp"

namespace torfs {
using namespace std::chrono_literals;

void TorrentImpl::dht_tick() {
  if (!ctx_.dht || metainfo_.is_private || stopping_ || dht_running_) return;
  if (Clock::now() < next_dht_) return;
  dht_running_ = true;
  std::weak_ptr<TorrentImpl> weak = shared_from_this();
  ctx_.dht->get_peers(
      info_hash(), ctx_.listen_port,
      [weak](std::vector<Endpoint> peers) {
        if (auto self = weak.lock()) self->add_candidates(peers);
      },
      [weak] {
        auto self = weak.lock();
        if (!self) return;
        self->dht_running_ = false;
        const bool starving = self->peers_.empty() && !self->picker_.complete();
        self->next_dht_ = Clock::now() + (starving ? 1min : 15min);
      });
}

void TorrentImpl::lsd_tick() {
  if (!ctx_.lsd || metainfo_.is_private || stopping_) return;
  const auto now = Clock::now();
  if (now < next_lsd_) return;
  next_lsd_ = now + 5min;
  ctx_.lsd->announce(info_hash(), ctx_.listen_port);
}

void TorrentImpl::add_discovered_peers(const std::vector<Endpoint>& peers) {
  if (metainfo_.is_private || stopping_) return;
  ctx_.log(LogLevel::debug, metainfo_.name, ": ", peers.size(), " peers from the local network");
  add_candidates(peers);
}

void TorrentImpl::send_dht_port(PeerConnection& peer) {
  if (!ctx_.dht || metainfo_.is_private || !peer.handshake.supports_dht()) return;
  if (const std::uint16_t port = ctx_.dht->port()) peer.send_port(port);
}

void TorrentImpl::on_port_message(const PeerConnection& peer, std::uint16_t port) {
  if (!ctx_.dht || metainfo_.is_private || port == 0) return;
  Endpoint node = from_asio(peer.remote());
  node.port = port;
  ctx_.dht->add_node(node);
}

}  // namespace torfs
