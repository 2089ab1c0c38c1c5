// CacheBudget: the session-wide cap on verified piece data kept on disk
// (SessionConfig::cache_size), with least-recently-used eviction across every torrent of the
// session. Policy, race-freedom argument and the disk-use bound: docs/architecture.md,
// "Cache budget".
//
// Accounting: `resident` = bytes of verified pieces of attached members, `reserved` = bytes of
// pieces hashed or being written right now (reserve() before the write, release() after it).
// reserve() keeps resident + reserved <= capacity by evicting the least recently used pieces
// the members offer (eviction_candidates: never pinned, never needed by a parked read or an
// open reader's window); when nothing more may be evicted the reservation exceeds the cap
// rather than break a reader.
//
// Thread safety: engine thread only, except now_stamp() (any thread).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include "cache/index.hpp"

namespace torfs {

struct CacheCandidate {
  std::uint64_t last_used = 0;  // CacheBudget::now_stamp() of the last use
  PieceIndex piece;
  std::uint32_t bytes = 0;
};

// One torrent as the budget sees it. Engine thread only.
class CacheMember {
 public:
  virtual ~CacheMember() = default;
  // Appends every verified piece that may be evicted right now.
  virtual void eviction_candidates(std::vector<CacheCandidate>& out) = 0;
  // The piece's current last-use stamp (changes whenever it is used again).
  virtual std::uint64_t last_used(PieceIndex piece) const = 0;
  // Evicts the piece from the engine's view unless it became protected or a reader pinned it
  // meanwhile (false then, nothing changed). On true the piece reads as missing from now on.
  virtual bool try_evict(PieceIndex piece) = 0;
  // The disk-side work for the pieces evicted since the last call (remove their rows, then
  // free their bytes); empty when there are none. Runs on a disk worker.
  virtual std::function<void()> take_eviction_job() = 0;
};

class CacheBudget {
 public:
  // capacity 0 = unlimited (nothing is ever evicted).
  explicit CacheBudget(std::uint64_t capacity) : capacity_(capacity) {}

  // Monotonic stamp for last-use times (steady clock, ns). Any thread.
  static std::uint64_t now_stamp();

  bool limited() const { return capacity_ != 0; }
  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t resident() const { return resident_; }
  std::uint64_t reserved() const { return reserved_; }
  // True when `bytes` more fit without evicting anything (always true when unlimited).
  bool has_room(std::uint64_t bytes) const {
    return !limited() || resident_ + reserved_ + bytes <= capacity_;
  }

  // Members join with their verified bytes already counted through add_resident(); detach()
  // forgets the member and its resident bytes (a stopped torrent is no longer cached).
  void attach(CacheMember& member);
  void detach(CacheMember& member);
  void add_resident(CacheMember& member, std::uint64_t bytes);

  struct Reservation {
    std::function<void()> evict;  // disk work to run BEFORE the reserved bytes are written
    std::uint32_t evicted_pieces = 0;
    std::uint64_t evicted_bytes = 0;
    std::uint64_t over = 0;  // bytes above the cap that could not be evicted
  };
  // Reserves `bytes` for a piece about to be written (0: just get back under the cap),
  // evicting least recently used pieces of all members first. Evicted bytes leave `resident`
  // at once.
  Reservation reserve(std::uint64_t bytes);
  // The write of reserved bytes is over (verified or not).
  void release(std::uint64_t bytes) { reserved_ -= bytes < reserved_ ? bytes : reserved_; }

 private:
  struct Queued {
    std::uint64_t last_used;
    CacheMember* member;
    PieceIndex piece;
    std::uint32_t bytes;
  };
  // Refills queue_ with the oldest candidates of all members (exact LRU order: stamps only
  // grow, so a piece that was not among them cannot become older than them).
  void refill_queue();

  const std::uint64_t capacity_;
  std::uint64_t resident_ = 0;
  std::uint64_t reserved_ = 0;
  std::map<CacheMember*, std::uint64_t> members_;  // resident bytes per member
  std::deque<Queued> queue_;                       // oldest candidates first
};

}  // namespace torfs
