// PiecePicker::claim_run / claim_next_run: the runs of consecutive pieces a web seed fetches
// with one HTTP range request.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/piece_picker.hpp"

namespace torfs {
namespace {

constexpr std::uint32_t kPiece = 2 * PiecePicker::kBlockSize;
constexpr PeerKey kWebSeed = 0xF000'0000u;
constexpr PeerKey kPeer = 7;
const PiecePicker::Clock::time_point kNow{};

PiecePicker make(std::uint32_t pieces, std::uint32_t seed = 1) {
  return PiecePicker(pieces, kPiece, std::uint64_t{pieces} * kPiece - 100, seed);
}

TEST(PiecePickerClaim, RunStopsAtTheLimitAtAClaimedPieceAndAtTheEnd) {
  PiecePicker picker = make(10);
  ASSERT_TRUE(picker.claim_piece(PieceIndex(5), kPeer, Priority::normal, kNow));
  EXPECT_EQ(3u, picker.claim_run(PieceIndex(0), kWebSeed, Priority::normal, 3, kNow));
  EXPECT_EQ(2u, picker.claim_run(PieceIndex(3), kWebSeed, Priority::normal, 8, kNow));
  EXPECT_EQ(0u, picker.claim_run(PieceIndex(4), kWebSeed, Priority::normal, 8, kNow));
  EXPECT_EQ(4u, picker.claim_run(PieceIndex(6), kWebSeed, Priority::normal, 100, kNow));
  for (std::uint32_t p : {0u, 1u, 2u, 3u, 4u, 6u, 9u})
    EXPECT_EQ(std::vector<PeerKey>{kWebSeed}, picker.requesters(BlockRef{PieceIndex(p), 1})) << p;
  EXPECT_EQ(0u, picker.claim_run(PieceIndex(10), kWebSeed, Priority::normal, 1, kNow));
}

TEST(PiecePickerClaim, RunSkipsNothingItCannotClaim) {
  PiecePicker picker = make(8);
  picker.set_have(PieceIndex(2));
  picker.set_priority(PieceIndex(5), Priority::none);
  picker.set_held(PieceIndex(6), true);
  EXPECT_EQ(2u, picker.claim_run(PieceIndex(0), kWebSeed, Priority::normal, 8, kNow));
  EXPECT_EQ(2u, picker.claim_run(PieceIndex(3), kWebSeed, Priority::normal, 8, kNow));
  EXPECT_EQ(0u, picker.claim_run(PieceIndex(6), kWebSeed, Priority::normal, 8, kNow));
  EXPECT_EQ(1u, picker.claim_run(PieceIndex(7), kWebSeed, Priority::normal, 8, kNow));
  // A run below its minimum priority stops there.
  PiecePicker window = make(6);
  for (std::uint32_t p = 0; p < 3; ++p)
    window.set_priority(PieceIndex(p), Priority::readahead);
  EXPECT_EQ(3u, window.claim_run(PieceIndex(0), kWebSeed, Priority::readahead, 6, kNow));
}

TEST(PiecePickerClaim, ClaimedRunIsLeftToTheWebSeedAndFreedWhenAborted) {
  PiecePicker picker = make(4);
  ASSERT_EQ(3u, picker.claim_run(PieceIndex(0), kWebSeed, Priority::normal, 3, kNow));
  PiecePicker::PickOptions opt;
  opt.max_blocks = 2;  // piece 3's blocks: endgame duplicates would only come after them
  std::vector<BlockRef> out;
  picker.pick(nullptr, kPeer, opt, out);
  ASSERT_EQ(2u, out.size());
  for (const BlockRef& b : out)
    EXPECT_EQ(PieceIndex(3), b.piece);
  for (const BlockRef& b : out)
    picker.abort_request(b, kPeer);
  // The fetch failed: its pieces become free again, for peers and for the next run.
  for (std::uint32_t p = 0; p < 3; ++p) {
    for (std::uint32_t b = 0; b < picker.blocks_in_piece(PieceIndex(p)); ++b)
      picker.abort_request(BlockRef{PieceIndex(p), b}, kWebSeed);
  }
  EXPECT_FALSE(picker.piece_fully_requested(PieceIndex(1)));
  EXPECT_EQ((PiecePicker::Run{PieceIndex(0), 4}),
            picker.claim_next_run(kWebSeed, Priority::normal, 8, kNow));
}

TEST(PiecePickerClaim, NextRunStartsWhereTheUnclaimedStretchStarts) {
  // Whatever piece the random tie-break prefers, the run starts at the stretch's start, so a
  // fresh download is cut into full-length runs only.
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    PiecePicker picker = make(40, seed);
    std::vector<PiecePicker::Run> runs;
    while (auto run = picker.claim_next_run(kWebSeed, Priority::normal, 8, kNow))
      runs.push_back(*run);
    ASSERT_EQ(5u, runs.size()) << "seed " << seed;
    for (std::uint32_t i = 0; i < 5; ++i)
      EXPECT_EQ((PiecePicker::Run{PieceIndex(8 * i), 8}), runs[i]) << "seed " << seed;
  }
}

TEST(PiecePickerClaim, NextRunDoesNotWalkBackOverPiecesOthersHaveOrTook) {
  PiecePicker picker = make(12);
  picker.set_have(PieceIndex(3));
  ASSERT_TRUE(picker.claim_piece(PieceIndex(7), kPeer, Priority::normal, kNow));
  std::vector<PiecePicker::Run> runs;
  while (auto run = picker.claim_next_run(kWebSeed, Priority::normal, 100, kNow))
    runs.push_back(*run);
  std::sort(runs.begin(), runs.end(),
            [](const auto& a, const auto& b) { return a.first.value() < b.first.value(); });
  const std::vector<PiecePicker::Run> want{
      {PieceIndex(0), 3}, {PieceIndex(4), 3}, {PieceIndex(8), 4}};
  EXPECT_EQ(want, runs);
}

TEST(PiecePickerClaim, NextRunKeepsPriorityAndRarityOrder) {
  PiecePicker picker = make(12);
  // A reader's window (readahead) goes first, from its start, and does not swallow the normal
  // pieces before it; it may run on into them (they are wanted too).
  for (std::uint32_t p = 4; p < 7; ++p)
    picker.set_priority(PieceIndex(p), Priority::readahead);
  EXPECT_EQ((PiecePicker::Run{PieceIndex(4), 3}),
            picker.claim_next_run(kWebSeed, Priority::readahead, 8, kNow));
  EXPECT_EQ(std::nullopt, picker.claim_next_run(kWebSeed, Priority::readahead, 8, kNow));
  // Rarer pieces first: the run starts at the rare stretch, not before it.
  Bitfield common(12);
  for (std::uint32_t p = 0; p < 12; ++p) {
    if (p < 9 || p > 10) common.set(p);
  }
  picker.add_peer(common);  // pieces 9 and 10 are the rarest now
  EXPECT_EQ((PiecePicker::Run{PieceIndex(9), 3}),
            picker.claim_next_run(kWebSeed, Priority::normal, 8, kNow));
}

TEST(PiecePickerClaim, UrgentPiecesAreNotMovedBack) {
  PiecePicker picker = make(10);
  picker.set_priority(PieceIndex(6), Priority::now, kNow);
  picker.set_priority(PieceIndex(5), Priority::now, kNow + std::chrono::seconds(1));
  // 6 has the earlier deadline: the run starts there although 5 is urgent too.
  EXPECT_EQ((PiecePicker::Run{PieceIndex(6), 4}),
            picker.claim_next_run(kWebSeed, Priority::normal, 8, kNow));
  EXPECT_EQ((PiecePicker::Run{PieceIndex(5), 1}),
            picker.claim_next_run(kWebSeed, Priority::normal, 8, kNow));
}

TEST(PiecePickerClaim, LongStretchesAreCutAtMultiplesOfTheRunLength) {
  // Past kMaxRunWalk runs back the walk stops at a multiple of the run length: runs still tile
  // the stretch without short leftovers.
  constexpr std::uint32_t kRun = 2;
  constexpr std::uint32_t kPieces = 4 * PiecePicker::kMaxRunWalk * kRun;
  PiecePicker picker = make(kPieces, 3);
  std::uint32_t total = 0;
  while (auto run = picker.claim_next_run(kWebSeed, Priority::normal, kRun, kNow)) {
    EXPECT_EQ(kRun, run->count);
    EXPECT_EQ(0u, run->first.value() % kRun);
    total += run->count;
  }
  EXPECT_EQ(kPieces, total);
}

}  // namespace
}  // namespace torfs
