// PiecePicker support for the cache budget: evicted pieces (clear_have) are wanted again,
// held pieces are never picked until released, and min_new_priority stops background pieces
// from starting while letting started pieces finish.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "engine/piece_picker.hpp"
#include "tests/engine/picker_test_util.hpp"

namespace torfs {
namespace {

using testing::kBlock;
using testing::pick;
using testing::pieces_of;

TEST(PiecePickerCache, EvictedPieceIsWantedAgainUnlessHeld) {
  PiecePicker pp(4, kBlock, 4 * kBlock, 1);
  for (std::uint32_t p = 0; p < 4; ++p)
    pp.set_have(PieceIndex(p));
  pp.add_seed();
  EXPECT_TRUE(pp.complete());
  EXPECT_FALSE(pp.is_interesting(nullptr));

  pp.clear_have(PieceIndex(2));
  pp.set_held(PieceIndex(2), true);
  EXPECT_TRUE(pp.held(PieceIndex(2)));
  EXPECT_FALSE(pp.complete());
  EXPECT_EQ(pp.num_wanted(), 0u);
  EXPECT_FALSE(pp.is_interesting(nullptr));
  EXPECT_TRUE(pick(pp, 1, 8).empty());

  // Priority changes while held are kept and apply once released.
  pp.set_priority(PieceIndex(2), Priority::now, PiecePicker::Clock::now());
  EXPECT_TRUE(pick(pp, 1, 8).empty());
  pp.set_held(PieceIndex(2), false);
  EXPECT_EQ(pp.num_wanted(), 1u);
  EXPECT_TRUE(pp.is_interesting(nullptr));
  EXPECT_EQ(pieces_of(pick(pp, 1, 8)), std::set<std::uint32_t>{2});
  EXPECT_TRUE(pp.mark_received(BlockRef{PieceIndex(2), 0}, 1).piece_complete);
  pp.piece_passed(PieceIndex(2));
  EXPECT_TRUE(pp.complete());
}

TEST(PiecePickerCache, HoldingTwiceOrReleasingUnheldIsHarmless) {
  PiecePicker pp(2, kBlock, 2 * kBlock, 1);
  pp.add_seed();
  pp.set_held(PieceIndex(0), true);
  pp.set_held(PieceIndex(0), true);
  EXPECT_EQ(pp.num_wanted(), 1u);
  pp.set_held(PieceIndex(1), false);
  pp.set_held(PieceIndex(0), false);
  EXPECT_EQ(pp.num_wanted(), 2u);
  EXPECT_EQ(pieces_of(pick(pp, 1, 8)), (std::set<std::uint32_t>{0, 1}));
}

TEST(PiecePickerCache, MinNewPriorityStartsOnlyReadersPiecesButFinishesStartedOnes) {
  PiecePicker pp(6, 2 * kBlock, 6 * 2 * kBlock, 7);
  pp.add_seed();
  // One background piece is started (one of its two blocks requested) before the cache fills.
  const auto first = pick(pp, 1, 1);
  ASSERT_EQ(first.size(), 1u);
  const std::uint32_t started = first[0].piece.value();
  const std::uint32_t urgent = (started + 1) % 6, ahead = (started + 2) % 6;
  pp.set_priority(PieceIndex(urgent), Priority::now, PiecePicker::Clock::now());
  pp.set_priority(PieceIndex(ahead), Priority::readahead);

  const auto full = pick(pp, 1, 100, nullptr, {}, Priority::readahead);
  EXPECT_EQ(pieces_of(full), (std::set<std::uint32_t>{started, urgent, ahead}));
  // No other background piece was started.
  for (std::uint32_t p = 0; p < 6; ++p) {
    if (p == started || p == urgent || p == ahead) continue;
    EXPECT_FALSE(pp.is_downloading(PieceIndex(p))) << p;
  }
  // With room again, background pieces start.
  EXPECT_EQ(pieces_of(pick(pp, 2, 100)).size(), 3u);
}

}  // namespace
}  // namespace torfs
