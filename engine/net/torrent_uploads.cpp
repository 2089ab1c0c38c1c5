// TorrentImpl: serving blocks to peers (seeding). Requests are validated, queued per peer
// (bounded), read from the data files on the disk pool a few at a time, and sent while the
// peer's output buffer is small, so a slow peer never makes us buffer much.
#include <algorithm>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;

namespace {
constexpr std::size_t kMaxQueuedUploads = 500;       // per peer; more is a violation
constexpr std::uint32_t kMaxDiskReads = 4;           // per peer, in flight
constexpr std::uint32_t kMaxReadBatch = 256 * 1024;  // bytes of one disk job (a run of blocks)
constexpr std::size_t kMaxSendBuffer = 1u << 20;     // stop reading ahead of the socket
// A few requests may cross our choke on the wire; a stream of requests while choked (or for
// pieces we do not have) is abuse: the peer is dropped, as libtorrent does after 300.
constexpr std::uint32_t kMaxRefusedRequests = 300;
}  // namespace

const char* TorrentImpl::on_request(PeerConnection& peer, const wire::Message& msg) {
  const bool fast = peer.handshake.supports_fast();
  auto reject = [&] {
    if (fast) peer.send_request(wire::MsgType::reject, msg.index, msg.begin, msg.length);
  };
  // BEP 6: requests while choked or for pieces we lack are rejected (fast peers) or ignored.
  if (peer.am_choking || stopping_ || !picker_.have(PieceIndex(msg.index))) {
    if (++peer.refused_requests > kMaxRefusedRequests) {
      return peer.am_choking ? "too many requests while choked"
                             : "too many requests for pieces we do not have";
    }
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
    // One disk job per run of requests contiguous in one piece (clients ask for a piece's
    // blocks in order): one pread and one round trip to the disk pool instead of one per block.
    std::vector<PeerConnection::Upload> run{peer.uploads.front()};
    peer.uploads.pop_front();
    std::uint32_t bytes = run.front().length;
    while (!peer.uploads.empty() && bytes < kMaxReadBatch) {
      const PeerConnection::Upload& next = peer.uploads.front();
      if (next.index != run.back().index || next.begin != run.back().begin + run.back().length) {
        break;
      }
      bytes += next.length;
      run.push_back(next);
      peer.uploads.pop_front();
    }
    const std::uint64_t offset =
        metainfo_.layout.piece_offset(PieceIndex(run.front().index)) + run.front().begin;
    // Pinned until read (torrent_cache.cpp); evicted since it was requested: refused (BEP 6),
    // never answered with the zeros of a punched hole.
    if (!acquire_read(offset, bytes)) {
      for (const auto& u : run) {
        if (peer.handshake.supports_fast())
          peer.send_request(wire::MsgType::reject, u.index, u.begin, u.length);
      }
      continue;
    }
    ++peer.disk_reads;
    auto conn = peers_.at(peer.key());
    ctx_.disk.post([self = shared_from_this(), conn, run = std::move(run), offset, bytes] {
      Buffer data(new char[bytes]);
      auto n = self->store_->read(offset, std::span<char>(data.get(), bytes));
      self->release_read(offset, bytes);
      std::string error;
      if (!n)
        error = n.error().message;
      else if (*n != bytes)
        error = "short read";
      asio::post(self->ctx_.io, [self, conn, run, data, error] {
        --conn->disk_reads;
        if (conn->closed()) return;
        if (!error.empty()) {
          self->ctx_.log(LogLevel::warning, self->metainfo_.name, ": reading blocks of piece ",
                         run.front().index, " failed: ", error);
          if (conn->handshake.supports_fast()) {
            for (const auto& u : run)
              conn->send_request(wire::MsgType::reject, u.index, u.begin, u.length);
          }
          return;
        }
        if (conn->am_choking) return;  // choked meanwhile: rejected by choke()
        std::size_t pos = 0;
        for (const auto& u : run) {
          conn->send_piece(u.index, u.begin, std::span<const char>(data.get() + pos, u.length));
          pos += u.length;
        }
        conn->sent_bytes += pos;
        conn->total_uploaded += pos;
        self->uploaded_.fetch_add(pos, std::memory_order_relaxed);
        self->pump_uploads(*conn);
      });
    });
  }
}

}  // namespace torfs
