// TorrentImpl: the per-torrent part of the cache budget (engine/net/cache_budget.hpp): read
// pins, last-use stamps, eviction of pieces from the engine's view, and the disk job that
// removes their completion rows and then punches their bytes. docs/architecture.md, "Cache
// budget", has the policy and the race-freedom argument; in short:
//
//  - A reader (FUSE thread, upload job) increments pins_[p] and THEN loads have_[p]; the
//    evictor (engine thread) stores have_[p] = false and THEN loads pins_[p]; all seq_cst. So
//    either the reader sees the piece missing (and parks the read: the piece is fetched again)
//    or the evictor sees the pin (restores have_ and skips the piece). Bytes are punched only
//    after the piece left the engine's view with no pin on it.
//  - Rows go before bytes: evict_pieces() (durable) under storage_mutex_, then punch, then the
//    files' new size/mtime are recorded so a restart trusts the remaining rows. commit_rows()
//    takes the same mutex and drops pieces that are no longer verified.
//  - An evicted piece is held in the picker (never requested, so never written) until its punch
//    is done: a punch never lands on a fresh copy.
//  - A filesystem block shared with other pieces is punched whole only when those are absent
//    and idle; they are held too until the punch is done (torrent_cache_blocks.cpp).
#include <algorithm>
#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "engine/net/cache_budget.hpp"
#include "engine/net/torrent_cache.hpp"
#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;

namespace {
// One reader's readahead window covers at most this fraction of the budget, so the windows of
// a few readers and the pieces they just read fit under the cap together.
constexpr std::uint64_t kWindowShare = 4;
constexpr auto kLogInterval = std::chrono::seconds(30);
}  // namespace

// ---------------------------------------------------------------- CacheMember

std::uint64_t TorrentCache::last_used(PieceIndex piece) const {
  return t_.last_used_[piece.value()].load(std::memory_order_relaxed);
}

bool TorrentCache::is_protected(std::uint32_t piece) const {
  const PieceIndex p(piece);
  for (const auto& [ticket, w] : t_.waiters_) {
    if (p >= w.range.begin && p < w.range.end) return true;
  }
  for (const auto& [reader, window] : t_.readers_) {
    if (window.begin == window.end) continue;
    const std::uint32_t first = window.begin.value() > 0 ? window.begin.value() - 1 : 0;
    if (piece >= first && p < window.end) return true;
  }
  return false;
}

void TorrentCache::eviction_candidates(std::vector<CacheCandidate>& out) {
  const FileLayout& layout = t_.metainfo_.layout;
  std::vector<bool> shielded(layout.num_pieces(), false);
  auto shield = [&](std::uint32_t begin, std::uint32_t end) {
    for (std::uint32_t p = begin; p < end && p < shielded.size(); ++p)
      shielded[p] = true;
  };
  for (const auto& [ticket, w] : t_.waiters_)
    shield(w.range.begin.value(), w.range.end.value());
  for (const auto& [reader, window] : t_.readers_) {
    if (window.begin == window.end) continue;
    shield(window.begin.value() > 0 ? window.begin.value() - 1 : 0, window.end.value());
  }
  for (std::uint32_t p = 0; p < layout.num_pieces(); ++p) {
    if (shielded[p] || !t_.picker_.have(PieceIndex(p))) continue;
    if (t_.pins_[p].load(std::memory_order_relaxed) != 0) continue;  // being read right now
    out.push_back(CacheCandidate{t_.last_used_[p].load(std::memory_order_relaxed), PieceIndex(p),
                                 layout.piece_size(PieceIndex(p))});
  }
}

bool TorrentCache::try_evict(PieceIndex piece) {
  const std::uint32_t i = piece.value();
  if (!t_.picker_.have(piece) || is_protected(i)) return false;
  // A piece pinned already is skipped before the handshake: the handshake briefly clears
  // have_[i], and other threads (readers, status) would see a pinned piece as missing.
  if (t_.pins_[i].load(std::memory_order_seq_cst) != 0) return false;
  // The Dekker handshake with acquire_read (see the top of this file): only a pin taken
  // during these few instructions sees the piece missing, and its read waits again.
  t_.have_[i].store(false, std::memory_order_seq_cst);
  if (t_.pins_[i].load(std::memory_order_seq_cst) != 0) {
    t_.have_[i].store(true, std::memory_order_seq_cst);
    return false;
  }
  const FileLayout& layout = t_.metainfo_.layout;
  const std::uint32_t size = layout.piece_size(piece);
  t_.picker_.clear_have(piece);
  hold(piece);  // until evict_on_disk punched it
  visit_slices(layout, layout.piece_offset(piece), size, [&](const FileSlice& s) {
    t_.file_have_[s.file.value()].fetch_sub(s.length, std::memory_order_relaxed);
    return true;
  });
  t_.have_bytes_.fetch_sub(size, std::memory_order_relaxed);
  t_.pieces_have_.store(t_.picker_.num_have(), std::memory_order_release);
  t_.refresh_priority(i);
  batch_.pieces.push_back(piece);
  plan_punch(piece);
  return true;
}

std::function<void()> TorrentCache::take_eviction_job() {
  retry_pending_blocks();
  if (batch_.pieces.empty() && batch_.ranges.empty()) return {};
  Batch batch = std::move(batch_);
  batch_ = Batch{};
  return [t = t_.shared_from_this(), batch = std::move(batch)] { evict_on_disk(t, batch); };
}

void TorrentCache::evict_on_disk(const std::shared_ptr<TorrentImpl>& t, const Batch& batch) {
  std::string error;
  {
    std::lock_guard lock(t->storage_mutex_);
    // The neighbours' rows go too: none should exist (they are not verified), but a row must
    // never survive the bytes it vouches for.
    std::vector<PieceIndex> rows = batch.pieces;
    rows.insert(rows.end(), batch.neighbours.begin(), batch.neighbours.end());
    if (auto removed = t->ctx_.store.evict_pieces(t->id_, rows); !removed) {
      // The rows may still be there: the bytes must stay (over budget, but never wrong).
      error = "cannot remove completion rows, keeping the data: " + removed.error().message;
    } else {
      std::vector<FileIndex> files;
      for (const PunchRange& r : batch.ranges) {
        auto punched = t->store_->punch_file(r.file, r.offset, r.length);
        if (!punched && error.empty() && !t->cache_->punch_warned.exchange(true))
          error = "cannot free evicted data (said once): " + punched.error().message;
        if (std::find(files.begin(), files.end(), r.file) == files.end()) files.push_back(r.file);
      }
      // Punching changed the files' mtime: record it, or a restart would distrust (and
      // re-hash) every remaining piece of these files.
      std::vector<FileRecord> records;
      for (FileIndex f : files) {
        const auto st = t->store_->file_state(f);
        if (st.exists) records.push_back(FileRecord{f, st.size, st.mtime_ns});
      }
      if (auto c = t->ctx_.store.commit_pieces(t->id_, {}, records); !c && error.empty())
        error = "cannot record file state after eviction: " + c.error().message;
    }
  }
  if (!error.empty()) t->ctx_.log(LogLevel::warning, t->metainfo_.name, ": cache: ", error);
  asio::post(t->ctx_.io, [t, batch] {
    for (PieceIndex p : batch.pieces)
      t->cache_->release(p);
    for (PieceIndex p : batch.neighbours)
      t->cache_->release(p);
    if (t->stopping_) return;
    t->update_interest_all();
    t->refill_all();
  });
}

// ---------------------------------------------------------------- read pins (any thread)

bool TorrentImpl::acquire_read(std::uint64_t offset, std::uint64_t length) {
  if (!pins_) return TorrentView::acquire_read(offset, length);  // no budget: nothing evicts
  const PieceRange range = metainfo_.layout.pieces_for_range(offset, length);
  for (PieceIndex p = range.begin; p < range.end; ++p) {
    pins_[p.value()].fetch_add(1, std::memory_order_seq_cst);
    if (!have_[p.value()].load(std::memory_order_seq_cst)) {
      for (PieceIndex q = range.begin; q <= p; ++q)
        pins_[q.value()].fetch_sub(1, std::memory_order_release);
      return false;
    }
  }
  touch_range(range);
  return true;
}

void TorrentImpl::release_read(std::uint64_t offset, std::uint64_t length) {
  if (!pins_) return;
  const PieceRange range = metainfo_.layout.pieces_for_range(offset, length);
  for (PieceIndex p = range.begin; p < range.end; ++p)
    pins_[p.value()].fetch_sub(1, std::memory_order_release);
}

void TorrentImpl::touch_range(PieceRange range) {
  if (!last_used_) return;
  const std::uint64_t now = CacheBudget::now_stamp();
  for (PieceIndex p = range.begin; p < range.end; ++p)
    last_used_[p.value()].store(now, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- engine hooks

void TorrentImpl::cache_start() {
  if (!ctx_.cache || !ctx_.cache->limited()) return;
  const std::uint32_t n = metainfo_.layout.num_pieces();
  const std::uint64_t now = CacheBudget::now_stamp();
  pins_.reset(new std::atomic<std::uint32_t>[n]);
  last_used_.reset(new std::atomic<std::uint64_t>[n]);
  for (std::uint32_t p = 0; p < n; ++p) {
    pins_[p].store(0, std::memory_order_relaxed);
    last_used_[p].store(now, std::memory_order_relaxed);
  }
  cache_ = std::make_shared<TorrentCache>(*this);
  ctx_.cache->attach(*cache_);
  ctx_.cache->add_resident(*cache_, have_bytes_.load());
  // Started over the budget (e.g. a smaller --cache-size than last time): shrink now. The job
  // counts as hashing so that stop() waits for it.
  CacheBudget::Reservation r = ctx_.cache->reserve(0);
  if (!r.evict) return;
  ctx_.log(LogLevel::info, metainfo_.name, ": cache: evicting ", r.evicted_pieces, " piece(s) (",
           r.evicted_bytes, " bytes) to fit the ", ctx_.cache->capacity(), "-byte budget");
  ++hashing_;
  ctx_.disk.post([self = shared_from_this(), evict = std::move(r.evict)] {
    evict();
    asio::post(self->ctx_.io, [self] {
      --self->hashing_;
      if (self->stopping_) self->maybe_finish_stop();
    });
  });
}

void TorrentImpl::cache_stop() {
  if (cache_) ctx_.cache->detach(*cache_);
}

std::function<void()> TorrentImpl::cache_reserve(std::uint32_t piece) {
  if (!cache_) return {};
  auto& reserved = cache_->reserved;
  if (std::find(reserved.begin(), reserved.end(), piece) != reserved.end()) return {};
  reserved.push_back(piece);
  CacheBudget& budget = *ctx_.cache;
  CacheBudget::Reservation r = budget.reserve(metainfo_.layout.piece_size(PieceIndex(piece)));
  if (r.evicted_pieces > 0) {
    ctx_.log(LogLevel::debug, metainfo_.name, ": cache: evicted ", r.evicted_pieces,
             " least recently used piece(s), ", r.evicted_bytes, " bytes, for piece ", piece);
    cache_->unlogged_pieces += r.evicted_pieces;
    cache_->unlogged_bytes += r.evicted_bytes;
    const auto now = std::chrono::steady_clock::now();
    if (now - cache_->last_log >= kLogInterval) {
      ctx_.log(LogLevel::info, metainfo_.name, ": cache: evicted ", cache_->unlogged_pieces,
               " least recently used piece(s), ", cache_->unlogged_bytes, " bytes, to stay in the ",
               budget.capacity(), "-byte budget (", budget.resident() + budget.reserved(),
               " bytes in use)");
      cache_->unlogged_pieces = cache_->unlogged_bytes = 0;
      cache_->last_log = now;
    }
  }
  if (r.over > 0) {
    ctx_.log(LogLevel::debug, metainfo_.name, ": cache: ", r.over,
             " bytes over the budget: every other cached piece is being read");
  }
  return std::move(r.evict);
}

void TorrentImpl::cache_unreserve(std::uint32_t piece) {
  if (!cache_) return;
  auto& reserved = cache_->reserved;
  auto it = std::find(reserved.begin(), reserved.end(), piece);
  if (it == reserved.end()) return;
  reserved.erase(it);
  ctx_.cache->release(metainfo_.layout.piece_size(PieceIndex(piece)));
}

void TorrentImpl::cache_verified(std::uint32_t piece) {
  if (!cache_) return;
  last_used_[piece].store(CacheBudget::now_stamp(), std::memory_order_relaxed);
  ctx_.cache->add_resident(*cache_, metainfo_.layout.piece_size(PieceIndex(piece)));
}

Priority TorrentImpl::cache_min_new_priority() const {
  if (!cache_) return Priority::normal;
  const std::uint64_t upcoming =
      std::uint64_t{metainfo_.layout.piece_length()} * (picker_.num_downloading() + 1);
  return ctx_.cache->has_room(upcoming) ? Priority::normal : Priority::readahead;
}

std::uint64_t TorrentImpl::cache_clip_readahead(std::uint64_t readahead) const {
  if (!cache_) return readahead;
  const std::uint64_t share = std::max<std::uint64_t>(metainfo_.layout.piece_length(),
                                                      ctx_.cache->capacity() / kWindowShare);
  return std::min(readahead, share);
}

Result<void> TorrentImpl::commit_rows(std::vector<PieceIndex> pieces,
                                      std::vector<FileRecord> files) {
  std::lock_guard lock(storage_mutex_);
  if (pins_) {
    // Evicted since the commit was queued: its bytes are (being) punched, no row for it.
    std::erase_if(pieces,
                  [&](PieceIndex p) { return !have_[p.value()].load(std::memory_order_seq_cst); });
    for (FileRecord& f : files) {  // an eviction may have punched them since they were read
      const auto st = store_->file_state(f.file);
      if (st.exists) f = FileRecord{f.file, st.size, st.mtime_ns};
    }
  }
  return ctx_.store.commit_pieces(id_, pieces, files);
}

}  // namespace torfs
