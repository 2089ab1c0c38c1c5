// TorrentImpl: message dispatch, requests, received blocks, hashing, completion commits.
#include <algorithm>
#include <cstring>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "cache/sha1.hpp"
#include "engine/net/metadata_fetcher.hpp"
#include "engine/net/torrent_impl.hpp"
#include "engine/net/tracker_manager.hpp"
#include "engine/ut_metadata.hpp"

namespace torfs {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
// In-flight piece buffers (receiving + hashing) stay under this, so peak memory is bounded
// whatever the number of peers.
constexpr std::uint64_t kBufferBudget = 32u << 20;
constexpr std::size_t kSpareBuffers = 4;
constexpr std::size_t kCommitBatch = 64;
}  // namespace

const char* TorrentImpl::on_message(PeerConnection& peer, const wire::Message& msg) {
  const FileLayout& layout = metainfo_.layout;
  const std::uint32_t n = layout.num_pieces();
  const std::uint32_t psize = msg.index < n ? layout.piece_size(PieceIndex(msg.index)) : 0;
  if (const char* e = wire::check_indices(msg, n, psize)) return e;
  const bool fast = peer.handshake.supports_fast();
  switch (msg.type) {
    case wire::MsgType::choke:
      peer.peer_choking = true;
      drop_requests(peer);
      break;
    case wire::MsgType::unchoke:
      peer.peer_choking = false;
      break;
    case wire::MsgType::interested:
      peer.peer_interested = true;
      if (peer.am_choking && !stopping_) {
        std::uint32_t unchoked = 0;
        for (auto& [k, p] : peers_)
          unchoked += p->am_choking ? 0 : 1;
        if (unchoked < 8) unchoke(peer);
      }
      break;
    case wire::MsgType::not_interested:
      peer.peer_interested = false;
      choke(peer);
      break;
    case wire::MsgType::have:
      if (peer.seed || peer.has.get(msg.index)) break;
      peer.has.set(msg.index);
      picker_.add_have(PieceIndex(msg.index));
      if (peer.has.all()) {
        picker_.remove_peer(peer.has);
        picker_.add_seed();
        peer.seed = true;
      }
      if (!peer.am_interested) update_interest(peer);
      break;
    case wire::MsgType::bitfield: {
      auto bits = Bitfield::from_wire(msg.payload, n);
      if (!bits) return "bitfield of the wrong size or with spare bits set";
      if (peer.seed) break;
      if (!peer.has.none()) {
        // aria2c sends a bitfield instead of a burst of 20+ haves mid-connection: merge it.
        for (std::uint32_t p = 0; p < n; ++p) {
          if (!bits->get(p) || peer.has.get(p)) continue;
          peer.has.set(p);
          picker_.add_have(PieceIndex(p));
        }
        if (peer.has.all()) {
          picker_.remove_peer(peer.has);
          picker_.add_seed();
          peer.seed = true;
        }
        update_interest(peer);
        break;
      }
      if (bits->all()) {
        peer.seed = true;
        picker_.add_seed();
      } else {
        peer.has = std::move(*bits);
        picker_.add_peer(peer.has);
      }
      update_interest(peer);
      break;
    }
    case wire::MsgType::have_all:
      if (!fast) return "have all without the fast extension";
      if (peer.seed || !peer.has.none()) return "have all after other piece information";
      peer.seed = true;
      picker_.add_seed();
      update_interest(peer);
      break;
    case wire::MsgType::have_none:
      if (!fast) return "have none without the fast extension";
      break;
    case wire::MsgType::request:
      return on_request(peer, msg);
    case wire::MsgType::piece:
      return on_piece(peer, msg);
    case wire::MsgType::cancel:
      on_cancel(peer, msg);
      break;
    case wire::MsgType::reject: {
      if (!fast) return "reject without the fast extension";
      const BlockRef ref{PieceIndex(msg.index), msg.begin / PiecePicker::kBlockSize};
      auto it = std::find_if(peer.requests.begin(), peer.requests.end(),
                             [&](const auto& r) { return r.block == ref; });
      if (it != peer.requests.end()) {
        peer.requests.erase(it);
        picker_.abort_request(ref, peer.key());
      }
      break;
    }
    case wire::MsgType::extended:
      if (msg.ext_id == 0) {
        if (auto ext = wire::decode_extension_handshake(msg.payload)) {
          if (ext->reqq) peer.reqq = std::max<std::uint32_t>(*ext->reqq, 1);
          peer.client = ext->client;
          peer.ext_metadata_id = ext->id_of("ut_metadata").value_or(0);
          on_extensions(peer, *ext);
        }
      } else if (msg.ext_id == ut_metadata::kLocalId) {
        return serve_metadata(peer, metainfo_.info_bytes, msg.payload);
      } else if (msg.ext_id == ut_pex::kLocalId) {
        on_pex(peer, msg.payload);
      }
      break;
    case wire::MsgType::port:
      on_port_message(peer, msg.port);
      break;
    default:  // keep-alive, suggest, allowed fast, unknown: nothing to do
      break;
  }
  return nullptr;
}

void TorrentImpl::on_read_batch(PeerConnection& peer) {
  refill(peer);
}

void TorrentImpl::refill(PeerConnection& peer, std::uint32_t extra) {
  if (stopping_ || storage_failed_ || storage_paused_ || peer.closed() || !peer.handshake_done ||
      peer.peer_choking || !peer.am_interested) {
    return;
  }
  const std::uint32_t depth = std::min(peer.target_queue, peer.reqq) + extra;
  if (peer.requests.size() >= depth) return;
  const auto now = Clock::now();
  PiecePicker::PickOptions opt;
  opt.max_blocks = depth - static_cast<std::uint32_t>(peer.requests.size());
  opt.snubbed = peer.snubbed;
  const std::uint64_t piece_length = metainfo_.layout.piece_length();
  opt.allow_new_pieces = picker_.num_downloading() < 2 ||
                         (picker_.num_downloading() + 1) * piece_length <= kBufferBudget;
  opt.now = now;
  opt.late_after = 1s;
  opt.min_new_priority = cache_min_new_priority();  // a full cache fetches only for readers
  scratch_.clear();
  picker_.pick(peer.seed ? nullptr : &peer.has, peer.key(), opt, scratch_);
  for (const BlockRef& b : scratch_) {
    peer.send_request(wire::MsgType::request, b.piece.value(), picker_.block_offset(b),
                      picker_.block_size(b));
    peer.requests.push_back({b, now});
  }
}

void TorrentImpl::refill_all() {
  for (auto& [key, peer] : peers_)
    refill(*peer);
}

void TorrentImpl::drop_requests(PeerConnection& peer) {
  for (const auto& r : peer.requests)
    picker_.abort_request(r.block, peer.key());
  peer.forgive_late_blocks(peer.requests.size());  // they may cross our change of mind
  peer.requests.clear();
}

const char* TorrentImpl::on_piece(PeerConnection& peer, const wire::Message& msg) {
  const std::uint32_t len = msg.length;
  peer.received_bytes += len;
  peer.total_downloaded += len;
  downloaded_.fetch_add(len, std::memory_order_relaxed);
  if (msg.begin % PiecePicker::kBlockSize != 0) return on_unsolicited(peer, len);
  const BlockRef ref{PieceIndex(msg.index), msg.begin / PiecePicker::kBlockSize};
  if (len != picker_.block_size(ref)) return on_unsolicited(peer, len);
  auto it = std::find_if(peer.requests.begin(), peer.requests.end(),
                         [&](const auto& r) { return r.block == ref; });
  // Only blocks we asked this peer for (and still wait for) may enter a piece: an unsolicited
  // block would otherwise make a piece fail and put strikes on the honest peers that sent the
  // rest of it (a peer could get honest seeders banned that way).
  if (it == peer.requests.end()) return on_unsolicited(peer, len);
  peer.requests.erase(it);
  peer.last_block = Clock::now();
  if (peer.snubbed) {
    peer.snubbed = false;
    peer.target_queue = 16;
  }
  if (stopping_ || picker_.have(ref.piece)) return nullptr;
  const PiecePicker::ReceiveResult res = picker_.mark_received(ref, peer.key());
  if (!res.accepted) return nullptr;
  Buffer& buf = piece_data_[msg.index];
  if (!buf) buf = take_buffer();
  std::memcpy(buf.get() + msg.begin, msg.payload.data(), len);
  for (PeerKey other : res.cancel) {
    auto p = peers_.find(other);
    if (p == peers_.end()) continue;
    auto& reqs = p->second->requests;
    auto r = std::find_if(reqs.begin(), reqs.end(), [&](const auto& x) { return x.block == ref; });
    if (r == reqs.end()) continue;
    reqs.erase(r);
    p->second->forgive_late_blocks(1);  // the block may already be on its way
    p->second->send_request(wire::MsgType::cancel, msg.index, msg.begin, len);
  }
  if (res.piece_complete) hash_and_write(msg.index);
  return nullptr;
}

TorrentImpl::Buffer TorrentImpl::take_buffer() {
  if (!spare_buffers_.empty()) {
    Buffer b = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return b;
  }
  return Buffer(new char[metainfo_.layout.piece_length()]);
}

void TorrentImpl::recycle(Buffer buffer) {
  if (buffer && spare_buffers_.size() < kSpareBuffers && !stopping_) {
    spare_buffers_.push_back(std::move(buffer));
  }
}

void TorrentImpl::hash_and_write(std::uint32_t piece) {
  auto it = piece_data_.find(piece);
  if (it == piece_data_.end()) return;
  Buffer buf = std::move(it->second);
  piece_data_.erase(it);
  ++hashing_;
  const PieceIndex p(piece);
  const std::uint32_t size = metainfo_.layout.piece_size(p);
  const std::uint64_t offset = metainfo_.layout.piece_offset(p);
  const Sha1Hash expected = metainfo_.piece_hashes[piece];
  auto evict = cache_reserve(piece);  // torrent_cache.cpp: room under the cache budget
  ctx_.disk.post([self = shared_from_this(), buf, size, offset, expected, piece, evict] {
    if (evict) evict();  // evicted pieces' rows and bytes go before this piece's bytes land
    thread_local Sha1 hasher;
    hasher.update(buf.get(), size);
    const bool ok = hasher.finish() == expected;
    Result<void> written;
    if (ok) written = self->store_->write(offset, std::string_view(buf.get(), size));
    asio::post(self->ctx_.io, [self, piece, ok, written, buf] {
      self->on_piece_checked(piece, ok, written, buf);
    });
  });
}

void TorrentImpl::on_piece_checked(std::uint32_t piece, bool hash_ok, Result<void> written,
                                   Buffer buffer) {
  --hashing_;
  cache_unreserve(piece);
  if (hash_ok && !written) {
    on_write_failed(piece, written.error(), std::move(buffer));  // torrent_guard.cpp
  } else {
    recycle(std::move(buffer));
    if (hash_ok) {
      on_piece_passed(piece);
    } else {
      on_piece_failed(piece);
    }
  }
  if (stopping_) return maybe_finish_stop();
  webseed_schedule();  // torrent_webseed.cpp: fetches may have waited for the disk
}

void TorrentImpl::on_piece_passed(std::uint32_t piece) {
  const FileLayout& layout = metainfo_.layout;
  const PieceIndex p(piece);
  picker_.piece_passed(p);
  cache_verified(piece);
  visit_slices(layout, layout.piece_offset(p), layout.piece_size(p), [&](const FileSlice& s) {
    file_have_[s.file.value()].fetch_add(s.length, std::memory_order_relaxed);
    return true;
  });
  have_bytes_.fetch_add(layout.piece_size(p), std::memory_order_relaxed);
  have_[piece].store(true, std::memory_order_release);
  pieces_have_.store(picker_.num_have(), std::memory_order_release);
  pending_commit_.push_back(p);
  answer_piece_waiters(piece);
  if (stopping_) return;
  for (auto& [key, peer] : peers_) {
    if (peer->handshake_done && !peer->seed && !peer->has.get(piece)) {
      peer->send_have(wire::MsgType::have, piece);
    }
  }
  if (picker_.complete()) {
    on_completed();
  } else if (pending_commit_.size() >= kCommitBatch && !commit_in_flight_) {
    flush_completion(false, {});
  }
}

void TorrentImpl::on_piece_failed(std::uint32_t piece) {
  const std::vector<PeerKey> senders = picker_.piece_failed(PieceIndex(piece));
  webseed_piece_failed(senders);  // torrent_webseed.cpp
  ctx_.log(LogLevel::warning, metainfo_.name, ": piece ", piece, " failed its hash check (",
           senders.size(), " peer(s) sent it)");
  for (PeerKey key : senders) {
    auto ep = peer_endpoints_.find(key);
    if (ep == peer_endpoints_.end()) continue;
    if (senders.size() == 1) {
      ban(ep->second, "sent a whole piece that failed its hash check");
      continue;
    }
    std::array<std::uint8_t, 16> ip = from_asio(ep->second).address;
    if (++strikes_[ip] >= 2) ban(ep->second, "contributed to two pieces that failed");
  }
  refill_all();
}

void TorrentImpl::on_completed() {
  if (completed_announced_) return;
  completed_announced_ = true;
  ctx_.log(LogLevel::info, metainfo_.name, ": download complete (", metainfo_.layout.num_pieces(),
           " pieces verified)");
  if (trackers_) trackers_->completed();
  if (auto r = store_->create_empty_files(); !r) {
    ctx_.log(LogLevel::warning, metainfo_.name, ": ", r.error().message);
  }
  if (!commit_in_flight_) flush_completion(false, {});
  update_interest_all();
  std::vector<std::shared_ptr<PeerConnection>> drop;
  for (auto& [key, peer] : peers_) {
    if (peer->seed || !config_.seed) drop.push_back(peer);
  }
  for (auto& peer : drop)
    peer->close(config_.seed ? "both complete" : "not seeding");
  auto callbacks = std::move(complete_callbacks_);
  complete_callbacks_.clear();
  for (auto& cb : callbacks)
    cb();
}

void TorrentImpl::flush_completion(bool final_flush, std::function<void()> then) {
  std::vector<PieceIndex> pieces = std::move(pending_commit_);
  pending_commit_.clear();
  const std::uint64_t up = uploaded_.load() - uploaded_at_last_commit_;
  const std::uint64_t down = downloaded_.load() - downloaded_at_last_commit_;
  uploaded_at_last_commit_ += up;
  downloaded_at_last_commit_ += down;
  if (pieces.empty() && !final_flush && up == 0 && down == 0) return;
  commit_in_flight_ = true;
  last_commit_ = Clock::now();
  ctx_.disk.post([self = shared_from_this(), pieces, up, down, then] {
    std::string error;
    // ORDER CONTRACT: data durable first, then the rows that vouch for it.
    if (auto synced = self->store_->sync(); !synced) {
      error = synced.error().message;
    } else if (!pieces.empty()) {
      const FileLayout& layout = self->metainfo_.layout;
      std::vector<FileRecord> files;
      for (PieceIndex p : pieces) {
        visit_slices(layout, layout.piece_offset(p), layout.piece_size(p), [&](const FileSlice& s) {
          if (std::none_of(files.begin(), files.end(), [&](auto& f) { return f.file == s.file; })) {
            const auto st = self->store_->file_state(s.file);
            if (st.exists) files.push_back(FileRecord{s.file, st.size, st.mtime_ns});
          }
          return true;
        });
      }
      if (auto c = self->commit_rows(pieces, files); !c) {  // torrent_cache.cpp
        error = c.error().message;
      }
    }
    if (up != 0 || down != 0) (void)self->ctx_.store.add_transfer(self->id_, up, down);
    asio::post(self->ctx_.io, [self, pieces, error, then] {
      self->commit_in_flight_ = false;
      if (!error.empty()) {
        self->ctx_.log(LogLevel::warning, self->metainfo_.name,
                       ": saving completion failed (will retry): ", error);
        self->pending_commit_.insert(self->pending_commit_.end(), pieces.begin(), pieces.end());
      }
      if (then) {
        then();
      } else if (self->stopping_) {
        self->maybe_finish_stop();
      }
    });
  });
}

void TorrentImpl::fail_storage(const Error& error) {
  if (storage_failed_) return;
  storage_failed_ = true;
  ctx_.log(LogLevel::error, metainfo_.name,
           ": storage error, downloading stopped: ", error.message);
  for (auto& [key, peer] : peers_)
    drop_requests(*peer);
  update_interest_all();
  for (auto& cb : error_callbacks_)
    cb(error);
}

}  // namespace torfs
