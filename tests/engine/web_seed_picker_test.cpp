// PiecePicker's web seed claims (BEP 19): whole pieces, coordinated with peers' picks.
#include <gtest/gtest.h>

#include "engine/piece_picker.hpp"

namespace torfs {
namespace {

constexpr std::uint32_t kPiece = 4 * PiecePicker::kBlockSize;
constexpr PeerKey kWebSeed = 0xF000'0000u;
const PiecePicker::Clock::time_point kNow{};

TEST(WebSeedPicker, ClaimedPieceIsNotPickedByPeers) {
  PiecePicker picker(2, kPiece, 2 * kPiece, 1);
  ASSERT_TRUE(picker.claim_piece(PieceIndex(0), kWebSeed, Priority::normal, kNow));
  EXPECT_TRUE(picker.piece_fully_requested(PieceIndex(0)));
  EXPECT_EQ(std::vector<PeerKey>{kWebSeed}, picker.requesters(BlockRef{PieceIndex(0), 3}));
  PiecePicker::PickOptions opt;
  opt.max_blocks = 4;
  std::vector<BlockRef> out;
  picker.pick(nullptr, 7, opt, out);
  ASSERT_EQ(4u, out.size());
  for (const BlockRef& b : out)
    EXPECT_EQ(PieceIndex(1), b.piece);
}

TEST(WebSeedPicker, ClaimRefusesPiecesInProgressHaveOrBelowThePriority) {
  PiecePicker picker(3, kPiece, 3 * kPiece, 1);
  PiecePicker::PickOptions opt;
  opt.max_blocks = 1;
  std::vector<BlockRef> out;
  picker.set_priority(PieceIndex(1), Priority::none);
  picker.set_priority(PieceIndex(2), Priority::none);
  picker.pick(nullptr, 7, opt, out);  // a peer starts piece 0
  ASSERT_EQ(PieceIndex(0), out.at(0).piece);
  EXPECT_FALSE(picker.claim_piece(PieceIndex(0), kWebSeed, Priority::normal, kNow));
  EXPECT_FALSE(picker.claim_piece(PieceIndex(1), kWebSeed, Priority::normal, kNow));
  picker.set_priority(PieceIndex(2), Priority::readahead);
  EXPECT_FALSE(picker.claim_piece(PieceIndex(2), kWebSeed, Priority::now, kNow));
  EXPECT_TRUE(picker.claim_piece(PieceIndex(2), kWebSeed, Priority::readahead, kNow));
  picker.piece_passed(PieceIndex(2));
  EXPECT_FALSE(picker.claim_piece(PieceIndex(2), kWebSeed, Priority::normal, kNow));
  EXPECT_FALSE(picker.claim_piece(PieceIndex(3), kWebSeed, Priority::normal, kNow));  // no such
}

TEST(WebSeedPicker, ClaimNextFollowsPriorityOrder) {
  PiecePicker picker(4, kPiece, 4 * kPiece, 1);
  picker.set_priority(PieceIndex(2), Priority::now, kNow);
  picker.set_priority(PieceIndex(3), Priority::readahead);
  EXPECT_EQ(PieceIndex(2), picker.claim_next_piece(kWebSeed, Priority::normal, kNow));
  EXPECT_EQ(PieceIndex(3), picker.claim_next_piece(kWebSeed, Priority::readahead, kNow));
  EXPECT_EQ(std::nullopt, picker.claim_next_piece(kWebSeed, Priority::readahead, kNow));
  const auto normal = picker.claim_next_piece(kWebSeed, Priority::normal, kNow);
  ASSERT_TRUE(normal);
  EXPECT_TRUE(*normal == PieceIndex(0) || *normal == PieceIndex(1));
}

TEST(WebSeedPicker, AbortedClaimFreesThePieceAndLateCopiesAreDropped) {
  PiecePicker picker(1, kPiece, kPiece, 1);
  ASSERT_TRUE(picker.claim_piece(PieceIndex(0), kWebSeed, Priority::normal, kNow));
  // A peer's copy of block 1 arrives first (endgame): the web seed's copy is dropped.
  EXPECT_TRUE(picker.mark_received(BlockRef{PieceIndex(0), 1}, 7).accepted);
  EXPECT_FALSE(picker.mark_received(BlockRef{PieceIndex(0), 1}, kWebSeed).accepted);
  EXPECT_EQ(1u, picker.blocks_received(PieceIndex(0)));
  for (std::uint32_t b = 0; b < 4; ++b)
    picker.abort_request(BlockRef{PieceIndex(0), b}, kWebSeed);
  EXPECT_FALSE(picker.piece_fully_requested(PieceIndex(0)));
  PiecePicker::PickOptions opt;
  opt.max_blocks = 8;
  std::vector<BlockRef> out;
  picker.pick(nullptr, 9, opt, out);
  EXPECT_EQ(3u, out.size());  // every block but the received one is free again
}

TEST(WebSeedPicker, FailedPieceNamesTheWebSeedAsSender) {
  PiecePicker picker(1, kPiece, kPiece, 1);
  ASSERT_TRUE(picker.claim_piece(PieceIndex(0), kWebSeed, Priority::normal, kNow));
  PiecePicker::ReceiveResult last;
  for (std::uint32_t b = 0; b < 4; ++b)
    last = picker.mark_received(BlockRef{PieceIndex(0), b}, kWebSeed);
  EXPECT_TRUE(last.piece_complete);
  EXPECT_EQ(4u, picker.blocks_received(PieceIndex(0)));
  EXPECT_EQ(std::vector<PeerKey>{kWebSeed}, picker.piece_failed(PieceIndex(0)));
  EXPECT_TRUE(picker.claim_piece(PieceIndex(0), kWebSeed, Priority::normal, kNow));
}

}  // namespace
}  // namespace torfs
