// TorrentImpl hardening: unsolicited-block floods and recoverable storage failures.
//
// Floods: a piece message that matches none of our outstanding requests to that peer never
// enters a piece (torrent_pieces.cpp). Honest peers send such blocks only as late answers to
// requests we abandoned (PeerConnection::forgive_late_blocks); beyond that a small allowance
// (PeerConnection::kMaxUnsolicitedBytes) drops the peer and strikes its address.
//
// Storage pauses: ENOSPC / EDQUOT (disk full, quota) and EMFILE / ENFILE (out of descriptors)
// go away when space or descriptors return. Downloading pauses (no new requests), verified
// data keeps being served, verified pieces that could not be written stay in memory (bounded
// by kHeldBudget; beyond it a piece is dropped and fetched again later) and are written again
// every kWriteRetry. When one write succeeds the rest follow and downloading resumes. Other
// errors (EIO, EROFS, EACCES, ...) stop the torrent for good (fail_storage). Engine thread.
#include <cerrno>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kWriteRetry = 5s;
// Verified pieces kept in memory while writing is paused (at least one, whatever its size).
constexpr std::uint64_t kHeldBudget = 16u << 20;

bool is_transient_storage_error(const std::error_code& code) {
  if (code.category() != std::generic_category() && code.category() != std::system_category()) {
    return false;
  }
  const int e = code.value();
  return e == ENOSPC || e == EDQUOT || e == EMFILE || e == ENFILE;
}
}  // namespace

const char* TorrentImpl::on_unsolicited(PeerConnection& peer, std::uint32_t length) {
  if (!peer.count_unsolicited(length)) return nullptr;
  ctx_.log(LogLevel::warning, metainfo_.name, ": peer ", peer.name(), " sent ",
           peer.unsolicited_bytes(), " bytes of blocks we did not request");
  strike(peer.remote(), "flooded us with blocks we did not request");
  return "too many blocks we did not request";
}

void TorrentImpl::strike(const tcp::endpoint& ep, const char* why) {
  std::array<std::uint8_t, 16> ip = from_asio(ep).address;
  if (++strikes_[ip] >= 2) ban(ep, why);
}

void TorrentImpl::on_write_failed(std::uint32_t piece, const Error& error, Buffer buffer) {
  if (stopping_ || storage_failed_ || !is_transient_storage_error(error.code)) {
    picker_.piece_failed(PieceIndex(piece));  // no penalties: the data was good
    recycle(std::move(buffer));
    fail_storage(error);
    return;
  }
  const std::uint64_t size = metainfo_.layout.piece_size(PieceIndex(piece));
  if (held_pieces_.empty() || held_bytes_ + size <= kHeldBudget) {
    held_bytes_ += size;
    held_pieces_.emplace(piece, std::move(buffer));
  } else {
    picker_.piece_failed(PieceIndex(piece));  // fetched again once writing works
    recycle(std::move(buffer));
  }
  if (storage_paused_) return;
  storage_paused_ = true;
  ctx_.log(LogLevel::error, metainfo_.name,
           ": cannot write downloaded data, downloading paused (verified data is still "
           "served; retrying every ",
           std::chrono::seconds(kWriteRetry).count(), " s): ", error.message);
  for (auto& [key, peer] : peers_)
    drop_requests(*peer);
  schedule_write_retry();
}

void TorrentImpl::schedule_write_retry() {
  if (!write_retry_timer_) write_retry_timer_ = std::make_unique<asio::steady_timer>(ctx_.io);
  write_retry_timer_->expires_after(kWriteRetry);
  // weak: a stopped torrent is not kept alive by its retry timer.
  write_retry_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopping_) return;
    self->retry_held_write();
  });
}

// Writes the lowest held piece; on success the next one follows at once, and once none are
// left downloading resumes. Counted in hashing_ so stop() waits for the write.
void TorrentImpl::retry_held_write() {
  if (stopping_ || storage_failed_ || write_retry_in_flight_) return;
  if (held_pieces_.empty()) return resume_after_storage_pause();
  const std::uint32_t piece = held_pieces_.begin()->first;
  Buffer buf = held_pieces_.begin()->second;
  write_retry_in_flight_ = true;
  ++hashing_;
  const PieceIndex p(piece);
  const std::uint32_t size = metainfo_.layout.piece_size(p);
  const std::uint64_t offset = metainfo_.layout.piece_offset(p);
  auto evict = cache_reserve(piece);  // the same cache contract as hash_and_write
  ctx_.disk.post([self = shared_from_this(), buf, size, offset, piece, evict] {
    if (evict) evict();
    Result<void> written = self->store_->write(offset, std::string_view(buf.get(), size));
    asio::post(self->ctx_.io, [self, piece, written] {
      --self->hashing_;
      self->write_retry_in_flight_ = false;
      self->cache_unreserve(piece);
      if (self->stopping_) return self->maybe_finish_stop();
      if (!written) {
        if (is_transient_storage_error(written.error().code)) return self->schedule_write_retry();
        for (auto& [held, buffer] : self->held_pieces_)
          self->picker_.piece_failed(PieceIndex(held));
        self->held_pieces_.clear();
        self->held_bytes_ = 0;
        self->fail_storage(written.error());
        return;
      }
      auto it = self->held_pieces_.find(piece);
      self->held_bytes_ -= self->metainfo_.layout.piece_size(PieceIndex(piece));
      self->recycle(std::move(it->second));
      self->held_pieces_.erase(it);
      self->on_piece_passed(piece);
      self->retry_held_write();
    });
  });
}

void TorrentImpl::resume_after_storage_pause() {
  if (!storage_paused_) return;
  storage_paused_ = false;
  ctx_.log(LogLevel::info, metainfo_.name, ": writing works again, downloading resumed");
  refill_all();
}

}  // namespace torfs
