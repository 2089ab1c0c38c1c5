// TorrentCache: one torrent's part of the cache budget (engine/net/cache_budget.hpp). Only
// torrent_cache*.cpp include this; TorrentImpl knows it by a forward declaration.
//
// torrent_cache.cpp: pins, candidates, try_evict, the disk job. torrent_cache_blocks.cpp: which
// file ranges an eviction may punch (the filesystem-block rule, docs/architecture.md "Cache
// budget") and the picker holds that keep those ranges from being written meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cache/index.hpp"
#include "engine/net/cache_budget.hpp"

namespace torfs {

class TorrentImpl;

class TorrentCache final : public CacheMember {
 public:
  explicit TorrentCache(TorrentImpl& torrent) : t_(torrent) {}

  void eviction_candidates(std::vector<CacheCandidate>& out) override;
  std::uint64_t last_used(PieceIndex piece) const override;
  bool try_evict(PieceIndex piece) override;
  std::function<void()> take_eviction_job() override;

  // Exactly these bytes of one file are punched (block-aligned except at the end of a file).
  struct PunchRange {
    FileIndex file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  // What one eviction job does. Every piece in `pieces` and `neighbours` is held in the picker
  // (hold()) from the engine-thread decision until the job released it.
  struct Batch {
    std::vector<PieceIndex> pieces;      // evicted: left the engine's view
    std::vector<PieceIndex> neighbours;  // absent pieces sharing a punched block
    std::vector<PunchRange> ranges;
  };
  // Disk worker: rows, then bytes, then file state; then releases the picker holds.
  static void evict_on_disk(const std::shared_ptr<TorrentImpl>& t, const Batch& batch);

  std::vector<std::uint32_t> reserved;  // pieces with a reservation (engine thread)
  // Evictions since the last info line (engine thread): one line per kLogInterval, not one
  // per piece, while a stream keeps the cache full.
  std::uint64_t unlogged_pieces = 0;
  std::uint64_t unlogged_bytes = 0;
  std::chrono::steady_clock::time_point last_log{};
  // A filesystem without hole punching fails every eviction the same way: say it once.
  std::atomic<bool> punch_warned{false};

 private:
  // Needed by a parked read, or inside an open reader's window (or the piece just before it,
  // the one being read). Engine thread.
  bool is_protected(std::uint32_t piece) const;

  // --- torrent_cache_blocks.cpp (engine thread)
  enum class BlockFate {
    punch,  // every other piece with bytes in the block is absent and idle: punch it whole
    keep,   // another piece with bytes in it is verified: its own eviction will free it
    later,  // another piece is busy (downloading, pinned, wanted by a reader): retry later
  };
  // Adds the ranges of an evicted piece to batch_, rounded outward over the edge blocks that
  // may go and inward over the others.
  void plan_punch(PieceIndex piece);
  // Punches the blocks left for `later` whose pieces have become idle since.
  void retry_pending_blocks();
  // The fate of block [begin, begin + block) of `file` when `self` (or nothing: an index past
  // the last piece) is evicted. On punch the other pieces are appended to `others`.
  BlockFate edge_block_fate(FileIndex file, std::uint64_t begin, std::uint64_t block,
                            PieceIndex self, std::vector<PieceIndex>& others) const;
  // Decides one edge block; on punch holds its other pieces. True when it may be punched.
  bool settle_edge_block(FileIndex file, std::uint64_t begin, std::uint64_t block, PieceIndex self);
  // Holds the other pieces of a block to punch and adds them to batch_.neighbours.
  void hold_neighbours(const std::vector<PieceIndex>& others);
  // Counted picker holds: an absent piece may be held by several jobs at once.
  void hold(PieceIndex piece);
  void release(PieceIndex piece);

  TorrentImpl& t_;
  Batch batch_;  // since the last take_eviction_job()
  std::unordered_map<std::uint32_t, std::uint32_t> holds_;
  // Edge blocks (file, begin, block size) with absent bytes that a busy piece kept allocated.
  std::set<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>> pending_blocks_;
};

}  // namespace torfs
