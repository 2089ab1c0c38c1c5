// PiecePicker: decides which 16 KiB blocks to request from which peer. Pure bookkeeping (no
// I/O, no clocks of its own: callers pass the time); owned by one thread (the engine thread).
//
// Policy, in order:
//  1. Strict priority classes: now > readahead > normal; `none` is never picked. Inside `now`,
//     earlier deadlines first.
//  2. Inside a class: pieces this peer already started first ("finish what you start"), then
//     new pieces rarest-first (ties broken by a random rank fixed per piece), then free blocks
//     of pieces other peers started. In the `now` class other peers' pieces come before new
//     ones, so several peers cooperate on the most urgent piece.
//  3. Time-critical duplicates: a block of a `now` piece outstanding longer than `late_after`
//     may also be requested from this peer (at most kMaxRequesters requesters per block).
//  4. Endgame: when a peer finds no free block it may pick (and none was held back by
//     allow_new_pieces), it duplicates blocks already requested from others (two requesters
//     at most); the first copy to arrive wins and the caller cancels the others.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

#include "cache/index.hpp"
#include "engine/bitfield.hpp"

namespace torfs {

enum class Priority : std::uint8_t { none = 0, normal = 1, readahead = 2, now = 3 };

using PeerKey = std::uint32_t;  // caller-chosen nonzero id of a connection, unique while connected

struct BlockRef {
  PieceIndex piece;
  std::uint32_t block = 0;  // index of the 16 KiB block inside the piece
  friend bool operator==(const BlockRef&, const BlockRef&) = default;
};

class PiecePicker {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::uint32_t kBlockSize = 16 * 1024;
  static constexpr std::uint8_t kMaxRequesters = 3;

  // Every piece starts missing with priority `normal`. `seed` fixes the random tie-break.
  PiecePicker(std::uint32_t num_pieces, std::uint32_t piece_length, std::uint64_t total_size,
              std::uint32_t seed = std::random_device{}());

  // --- geometry
  std::uint32_t num_pieces() const { return num_pieces_; }
  std::uint32_t piece_size(PieceIndex p) const;
  std::uint32_t blocks_in_piece(PieceIndex p) const;
  std::uint32_t block_offset(BlockRef b) const { return b.block * kBlockSize; }
  std::uint32_t block_size(BlockRef b) const;

  // --- what we have (verified pieces)
  bool have(PieceIndex p) const { return have_.get(p.value()); }
  const Bitfield& have_bitfield() const { return have_; }
  std::uint32_t num_have() const { return static_cast<std::uint32_t>(have_.count()); }
  bool complete() const { return have_.all(); }
  // Marks a piece verified without downloading it (resume data, re-check).
  void set_have(PieceIndex p);
  // Marks a verified piece missing again (its data vanished).
  void clear_have(PieceIndex p);
  // A held piece is never picked (not wanted, not interesting) until released: an evicted
  // piece whose bytes are still being freed must not be downloaded and written meanwhile.
  void set_held(PieceIndex p, bool held);
  bool held(PieceIndex p) const { return held_[p.value()] != 0; }

  // --- availability in the swarm
  void add_peer(const Bitfield& peer_has);
  void remove_peer(const Bitfield& peer_has);
  void add_have(PieceIndex p);   // a peer announced one more piece
  void add_seed() { ++seeds_; }  // a peer that has everything (have all / full bitfield)
  void remove_seed() { --seeds_; }
  std::uint32_t availability(PieceIndex p) const { return availability_[p.value()] + seeds_; }

  // --- priorities
  // `deadline` only matters for Priority::now (earlier first).
  void set_priority(PieceIndex p, Priority prio, Clock::time_point deadline = {});
  Priority priority(PieceIndex p) const { return static_cast<Priority>(priority_[p.value()]); }
  // True when the peer has a missing piece of priority above none (nullptr = peer has all).
  bool is_interesting(const Bitfield* peer_has) const;
  // Pieces still wanted (missing, priority above none).
  std::uint32_t num_wanted() const { return static_cast<std::uint32_t>(order_.size()); }

  // --- picking
  struct PickOptions {
    std::uint32_t max_blocks = 0;
    bool snubbed = false;          // at most one block, no duplicates
    bool allow_new_pieces = true;  // false when the caller's piece-buffer budget is spent
    // Pieces of a lower class are not started (pieces already in progress still finish): a
    // full cache budget fetches only what readers wait for or read ahead.
    Priority min_new_priority = Priority::normal;
    Clock::time_point now{};
    Clock::duration late_after = std::chrono::seconds(2);  // time-critical duplicate threshold
  };
  // Appends up to max_blocks blocks for this peer to `out` and marks them requested by `peer`.
  // `peer_has` nullptr = the peer has every piece.
  void pick(const Bitfield* peer_has, PeerKey peer, const PickOptions& opt,
            std::vector<BlockRef>& out);

  // --- block events
  struct ReceiveResult {
    bool accepted = false;        // false: unexpected or duplicate, drop the data
    bool piece_complete = false;  // every block received: hash it now
    std::vector<PeerKey> cancel;  // other peers that still have this block requested
  };
  // A block arrived from `peer`. Accepted when its piece is being downloaded and the block
  // has not been received yet (even if it was requested from someone else).
  ReceiveResult mark_received(BlockRef b, PeerKey peer);
  // The request of `peer` for `b` is gone (reject, choke, timeout, cancel).
  void abort_request(BlockRef b, PeerKey peer);
  // Drops every request of `peer` (disconnect, snub). Blocks nobody else requested are free.
  void release_peer(PeerKey peer);
  // Hash check results for a piece whose blocks were all received.
  void piece_passed(PieceIndex p);
  // Resets the piece (every block free again) and returns the distinct peers that sent its
  // blocks, for penalties.
  std::vector<PeerKey> piece_failed(PieceIndex p);

  bool is_downloading(PieceIndex p) const { return downloading_.count(p.value()) != 0; }
  std::uint32_t num_downloading() const { return static_cast<std::uint32_t>(downloading_.size()); }
  // Requesters of a block (empty when not requested).
  std::vector<PeerKey> requesters(BlockRef b) const;
  // Pieces currently in progress whose blocks were all requested or received.
  bool piece_fully_requested(PieceIndex p) const;

  // --- web seeds (BEP 19) fetch whole pieces
  // Starts piece p with every block requested by `peer`, when p is wanted, of priority >= min
  // and nobody is downloading it; false otherwise. Peers then leave its blocks alone (except
  // for endgame and late `now` duplicates, whose late copy mark_received drops).
  bool claim_piece(PieceIndex p, PeerKey peer, Priority min, Clock::time_point now);
  // The first wanted piece in picking order (class, deadline, rarity) of priority >= min that
  // nobody is downloading, claimed as by claim_piece; nullopt when there is none.
  std::optional<PieceIndex> claim_next_piece(PeerKey peer, Priority min, Clock::time_point now);
  // A web seed fetches a run of consecutive pieces with one HTTP range request, so the longer
  // the run, the fewer requests (piece_picker_claim.cpp).
  struct Run {
    PieceIndex first;
    std::uint32_t count = 0;
    friend bool operator==(const Run&, const Run&) = default;
  };
  // Claims first, first + 1, ... as claim_piece does, stopping before the first piece it
  // refuses or after max_pieces (>= 1); returns how many it claimed (0: `first` was refused).
  std::uint32_t claim_run(PieceIndex first, PeerKey peer, Priority min, std::uint32_t max_pieces,
                          Clock::time_point now);
  // A web seed's background fetch: the piece claim_next_piece would take, moved back to the
  // start of the claimable run around it (same priority and availability, so nothing more
  // urgent or rarer is passed over; `now` pieces keep their deadline order and are not moved;
  // at most kMaxRunWalk * max_pieces back, else to a multiple of max_pieces), then claimed
  // forward as claim_run. Starting runs at their start keeps the unclaimed stretches whole:
  // random starts would cut them into pieces shorter than max_pieces. nullopt: none claimable.
  static constexpr std::uint32_t kMaxRunWalk = 64;
  std::optional<Run> claim_next_run(PeerKey peer, Priority min, std::uint32_t max_pieces,
                                    Clock::time_point now);
  // Blocks of a piece in progress that were received (0 when it is not in progress).
  std::uint32_t blocks_received(PieceIndex p) const;

 private:
  enum class BlockState : std::uint8_t { free, requested, received };
  struct Block {
    BlockState state = BlockState::free;
    std::uint8_t num_requesters = 0;
    std::array<PeerKey, kMaxRequesters> requesters{};
    PeerKey sender = 0;
    Clock::time_point requested_at{};
  };
  struct Downloading {
    std::vector<Block> blocks;
    PeerKey owner = 0;
    std::uint32_t num_free = 0;
    std::uint32_t num_received = 0;
  };
  // Order of wanted pieces: class (now first), deadline, availability, random rank.
  struct Key {
    std::uint8_t inv_class;
    std::int64_t deadline;
    std::uint32_t avail;
    std::uint32_t rank;
    std::uint32_t piece;
    friend auto operator<=>(const Key&, const Key&) = default;
  };

  Key key_of(std::uint32_t p) const;
  bool wanted(std::uint32_t p) const { return !have_.get(p) && priority_[p] != 0 && !held_[p]; }
  void unlink(std::uint32_t p);  // removes p's key from order_ if wanted
  void relink(std::uint32_t p);  // inserts p's key if wanted
  Downloading& start(std::uint32_t p, PeerKey owner);
  // Takes free blocks of piece p for peer; returns false when out is full.
  bool take_free(std::uint32_t p, Downloading& d, PeerKey peer, const PickOptions& opt,
                 std::vector<BlockRef>& out);
  void pick_class(std::uint8_t cls, const Bitfield* peer_has, PeerKey peer, const PickOptions& opt,
                  std::vector<BlockRef>& out, bool& held_back);
  void pick_partials(std::uint8_t cls, const Bitfield* peer_has, PeerKey peer, bool own,
                     const PickOptions& opt, std::vector<BlockRef>& out);
  void pick_duplicates(const Bitfield* peer_has, PeerKey peer, const PickOptions& opt,
                       bool late_only, std::vector<BlockRef>& out);
  static bool remove_requester(Block& b, PeerKey peer);
  // claim_piece() would accept p (wanted, priority >= min, nobody downloading it).
  bool claimable(std::uint32_t p, Priority min) const;
  std::uint32_t run_start(std::uint32_t chosen, Priority min, std::uint32_t max_pieces) const;

  std::uint32_t num_pieces_;
  std::uint32_t piece_length_;
  std::uint64_t total_size_;
  Bitfield have_;
  std::vector<std::uint32_t> availability_;
  std::uint32_t seeds_ = 0;
  std::vector<std::uint8_t> priority_;
  std::vector<std::int64_t> deadline_;  // ticks of Clock::duration since epoch, now pieces
  std::vector<std::uint32_t> rank_;
  std::vector<std::uint8_t> held_;  // set_held
  std::set<Key> order_;             // wanted pieces only
  std::unordered_map<std::uint32_t, Downloading> downloading_;
};

}  // namespace torfs
