// TorrentImpl: serving blocks to peers (seeding). Requests are validated, queued per peer
// (bounded), read from the data files on the disk pool a few at a time, and sent while the
// peer's output buffer is small, so a slow peer never makes us buffer much.
#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;

namespace {
constexpr std::size_t kMaxQueuedUploads = 500;    // per peer; more is a violation
constexpr std::uint32_t kMaxDiskReads = 8;        // per peer, in flight
constexpr std::size_t kMaxSendBuffer = 1u << 20;  // stop reading ahead of the socket
}  // namespace

const char* TorrentImpl::on_request(PeerConnection& peer, const wire::Message& msg) {
  const bool fast = peer.handshake.supports_fast();
  auto reject = [&] {
    if (fast) peer.send_request(wire::MsgType::reject, msg.index, msg.begin, msg.length);
  };
  // BEP 6: requests while choked or for pieces we lack are rejected (fast peers) or ignored.
  if (peer.am_choking || stopping_ || !picker_.have(PieceIndex(msg.index))) {
    reject();
    return nullptr;
  }
  if (peer.uploads.size() >= kMaxQueuedUploads) {
    if (!fast) return "too many outstanding requests";
    reject();
    return nullptr;
  }
  peer.uploads.push_back({msg.index, msg.begin, msg.length});
  pump_uploads(peer);
  return nullptr;
}

void TorrentImpl::on_cancel(PeerConnection& peer, const wire::Message& msg) {
  auto it = std::find_if(peer.uploads.begin(), peer.uploads.end(), [&](const auto& u) {
    return u.index == msg.index && u.begin == msg.begin && u.length == msg.length;
  });
  if (it != peer.uploads.end()) peer.uploads.erase(it);
}

void TorrentImpl::on_write_done(PeerConnection& peer) {
  pump_uploads(peer);
}

void TorrentImpl::reject_uploads(PeerConnection& peer) {
  if (peer.handshake.supports_fast()) {
    for (const auto& u : peer.uploads) {
      peer.send_request(wire::MsgType::reject, u.index, u.begin, u.length);
    }
  }
  peer.uploads.clear();
}

void TorrentImpl::pump_uploads(PeerConnection& peer) {
  while (!peer.closed() && !peer.am_choking && !peer.uploads.empty() &&
         peer.disk_reads < kMaxDiskReads && peer.send_buffer_size() < kMaxSendBuffer) {
    const PeerConnection::Upload u = peer.uploads.front();
    peer.uploads.pop_front();
    ++peer.disk_reads;
    const std::uint64_t offset = metainfo_.layout.piece_offset(PieceIndex(u.index)) + u.begin;
    auto conn = peers_.at(peer.key());
    ctx_.disk.post([self = shared_from_this(), conn, u, offset] {
      Buffer data(new char[u.length]);
      auto n = self->store_->read(offset, std::span<char>(data.get(), u.length));
      std::string error;
      if (!n)
        error = n.error().message;
      else if (*n != u.length)
        error = "short read";
      asio::post(self->ctx_.io, [self, conn, u, data, error] {
        --conn->disk_reads;
        if (conn->closed()) return;
        if (!error.empty()) {
          self->ctx_.log(LogLevel::warning, self->metainfo_.name, ": reading block of piece ",
                         u.index, " failed: ", error);
          if (conn->handshake.supports_fast()) {
            conn->send_request(wire::MsgType::reject, u.index, u.begin, u.length);
          }
          return;
        }
        if (conn->am_choking) return;  // choked meanwhile: rejected by choke()
        conn->send_piece(u.index, u.begin, std::span<const char>(data.get(), u.length));
        conn->sent_bytes += u.length;
        conn->total_uploaded += u.length;
        self->uploaded_.fetch_add(u.length, std::memory_order_relaxed);
        self->pump_uploads(*conn);
      });
    });
  }
}

}  // namespace torfs
