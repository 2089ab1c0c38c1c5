#include "engine/piece_picker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "tests/engine/picker_test_util.hpp"

namespace torfs {
namespace {

using namespace std::chrono_literals;
using Clock = PiecePicker::Clock;
using testing::kBlock;
using testing::pick;
using testing::pick_options;
using testing::pieces_of;

// Receives every block of piece p from `peer`; returns whether the last one completed it.
bool receive_piece(PiecePicker& pp, std::uint32_t p, PeerKey peer) {
  bool complete = false;
  for (std::uint32_t b = 0; b < pp.blocks_in_piece(PieceIndex(p)); ++b) {
    complete = pp.mark_received(BlockRef{PieceIndex(p), b}, peer).piece_complete;
  }
  return complete;
}

TEST(PiecePicker, Geometry) {
  PiecePicker pp(3, 4 * kBlock, 4 * kBlock * 2 + kBlock + 100);
  EXPECT_EQ(pp.blocks_in_piece(PieceIndex(0)), 4u);
  EXPECT_EQ(pp.piece_size(PieceIndex(2)), kBlock + 100);
  EXPECT_EQ(pp.blocks_in_piece(PieceIndex(2)), 2u);
  EXPECT_EQ(pp.block_size(BlockRef{PieceIndex(2), 1}), 100u);
  EXPECT_EQ(pp.block_offset(BlockRef{PieceIndex(2), 1}), kBlock);
}

TEST(PiecePicker, PicksOnlyWhatThePeerHas) {
  PiecePicker pp(8, kBlock, 8 * kBlock, 1);
  Bitfield has(8);
  has.set(5);
  pp.add_peer(has);
  auto got = pick(pp, 1, 10, &has);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].piece.value(), 5u);
}

TEST(PiecePicker, RarestFirst) {
  PiecePicker pp(6, kBlock, 6 * kBlock, 7);
  Bitfield a(6, true), b(6, true), c(6);
  c.set(0);
  c.set(1);
  c.set(2);
  c.set(3);
  c.set(4);
  pp.add_peer(a);
  pp.add_peer(b);
  pp.add_peer(c);  // pieces 0..4 have availability 3, piece 5 only 2
  EXPECT_EQ(pp.availability(PieceIndex(5)), 2u);
  auto got = pick(pp, 1, 1, &a);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].piece.value(), 5u);
  pp.add_seed();
  EXPECT_EQ(pp.availability(PieceIndex(5)), 3u);
}

TEST(PiecePicker, RandomAmongEquallyRare) {
  std::set<std::uint32_t> firsts;
  for (std::uint32_t seed = 0; seed < 20; ++seed) {
    PiecePicker pp(50, kBlock, 50 * kBlock, seed);
    firsts.insert(pick(pp, 1, 1)[0].piece.value());
  }
  EXPECT_GT(firsts.size(), 3u);
}

TEST(PiecePicker, StrictPriorityClasses) {
  PiecePicker pp(10, kBlock, 10 * kBlock, 3);
  Bitfield rare(10);
  rare.set(9);
  pp.add_peer(rare);  // piece 9 is the most common, and only normal: picked last
  pp.set_priority(PieceIndex(4), Priority::readahead);
  pp.set_priority(PieceIndex(7), Priority::now, Clock::time_point{} + 5s);
  pp.set_priority(PieceIndex(2), Priority::now, Clock::time_point{} + 1s);
  for (std::uint32_t p : {0u, 1u, 3u, 5u, 6u, 8u})
    pp.set_priority(PieceIndex(p), Priority::none);
  auto got = pick(pp, 1, 10);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].piece.value(), 2u);  // earliest deadline
  EXPECT_EQ(got[1].piece.value(), 7u);
  EXPECT_EQ(got[2].piece.value(), 4u);  // readahead
  EXPECT_EQ(got[3].piece.value(), 9u);  // normal; none pieces never picked
  EXPECT_EQ(pp.num_wanted(), 4u);
}

TEST(PiecePicker, NonePriorityNotInteresting) {
  PiecePicker pp(4, kBlock, 4 * kBlock);
  Bitfield has(4);
  has.set(1);
  EXPECT_TRUE(pp.is_interesting(&has));
  pp.set_priority(PieceIndex(1), Priority::none);
  EXPECT_FALSE(pp.is_interesting(&has));
  EXPECT_TRUE(pp.is_interesting(nullptr));
  pp.set_have(PieceIndex(1));
  pp.set_priority(PieceIndex(1), Priority::normal);
  EXPECT_FALSE(pp.is_interesting(&has));
}

TEST(PiecePicker, FinishesStartedPiecesFirst) {
  PiecePicker pp(10, 8 * kBlock, 80 * kBlock, 5);
  auto first = pick(pp, 1, 3);
  ASSERT_EQ(pieces_of(first).size(), 1u);
  const std::uint32_t p = first[0].piece.value();
  auto second = pick(pp, 1, 5);
  EXPECT_EQ(pieces_of(second), std::set<std::uint32_t>{p});
  auto third = pick(pp, 1, 2);
  EXPECT_EQ(pieces_of(third).count(p), 0u);
}

TEST(PiecePicker, OtherPeersStartTheirOwnPieces) {
  PiecePicker pp(10, 8 * kBlock, 80 * kBlock, 5);
  auto a = pick(pp, 1, 2);
  auto b = pick(pp, 2, 2);
  EXPECT_NE(a[0].piece, b[0].piece);
}

TEST(PiecePicker, JoinsOthersPiecesWhenNewPiecesHeldBack) {
  PiecePicker pp(10, 8 * kBlock, 80 * kBlock, 5);
  auto a = pick(pp, 1, 2);
  std::vector<BlockRef> b;
  auto o = pick_options(4);
  o.allow_new_pieces = false;
  pp.pick(nullptr, 2, o, b);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(pieces_of(b), pieces_of(a));
}

TEST(PiecePicker, UrgentPiecesShareBetweenPeers) {
  PiecePicker pp(10, 8 * kBlock, 80 * kBlock, 5);
  pp.set_priority(PieceIndex(6), Priority::now, Clock::time_point{} + 1s);
  auto a = pick(pp, 1, 3);
  EXPECT_EQ(pieces_of(a), std::set<std::uint32_t>{6});
  auto b = pick(pp, 2, 3);
  EXPECT_EQ(pieces_of(b), std::set<std::uint32_t>{6});
}

TEST(PiecePicker, ReceiveCompletesAndPasses) {
  PiecePicker pp(2, 2 * kBlock, 3 * kBlock, 1);
  auto got = pick(pp, 1, 10);
  ASSERT_EQ(got.size(), 3u);
  bool complete = false;
  for (auto& b : got) {
    auto r = pp.mark_received(b, 1);
    EXPECT_TRUE(r.accepted);
    if (r.piece_complete) {
      complete = true;
      pp.piece_passed(b.piece);
    }
  }
  EXPECT_TRUE(complete);
  EXPECT_TRUE(pp.complete());
  EXPECT_EQ(pp.num_downloading(), 0u);
  EXPECT_TRUE(pick(pp, 1, 10).empty());
}

TEST(PiecePicker, UnexpectedAndDuplicateBlocksRefused) {
  PiecePicker pp(2, 2 * kBlock, 4 * kBlock, 1);
  EXPECT_FALSE(pp.mark_received(BlockRef{PieceIndex(0), 0}, 1).accepted);
  auto got = pick(pp, 1, 1);
  EXPECT_TRUE(pp.mark_received(got[0], 1).accepted);
  EXPECT_FALSE(pp.mark_received(got[0], 1).accepted);
  EXPECT_FALSE(pp.mark_received(BlockRef{got[0].piece, 9}, 1).accepted);
}

TEST(PiecePicker, EndgameDuplicatesAndCancels) {
  PiecePicker pp(2, 2 * kBlock, 4 * kBlock, 1);
  auto a = pick(pp, 1, 10);
  ASSERT_EQ(a.size(), 4u);
  auto b = pick(pp, 2, 10);  // nothing free: endgame duplicates
  ASSERT_EQ(b.size(), 4u);
  EXPECT_TRUE(pick(pp, 3, 10).empty());  // two requesters per block at most in endgame
  auto r = pp.mark_received(b[0], 2);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.cancel, std::vector<PeerKey>{1});
  EXPECT_FALSE(pp.mark_received(b[0], 1).accepted);
}

TEST(PiecePicker, NoEndgameWhileNewPiecesHeldBack) {
  PiecePicker pp(4, 2 * kBlock, 8 * kBlock, 1);
  pick(pp, 1, 2);
  std::vector<BlockRef> out;
  auto o = pick_options(10);
  o.allow_new_pieces = false;
  pp.pick(nullptr, 2, o, out);
  EXPECT_TRUE(out.empty());
}

TEST(PiecePicker, TimeCriticalDuplicateWhenLate) {
  PiecePicker pp(4, 2 * kBlock, 8 * kBlock, 1);
  const auto t0 = Clock::time_point{} + 100s;
  pp.set_priority(PieceIndex(3), Priority::now, t0 + 10s);
  auto a = pick(pp, 1, 2, nullptr, t0);
  ASSERT_EQ(pieces_of(a), std::set<std::uint32_t>{3});
  auto early = pick(pp, 2, 1, nullptr, t0 + 1s);
  EXPECT_NE(early[0].piece.value(), 3u);  // not late yet: normal piece instead
  auto late = pick(pp, 2, 1, nullptr, t0 + 3s);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].piece.value(), 3u);
  EXPECT_EQ(pp.requesters(late[0]).size(), 2u);
}

TEST(PiecePicker, SnubbedPeersGetOneBlockAndNoDuplicates) {
  PiecePicker pp(2, 2 * kBlock, 4 * kBlock, 1);
  std::vector<BlockRef> out;
  auto o = pick_options(10);
  o.snubbed = true;
  pp.pick(nullptr, 1, o, out);
  EXPECT_EQ(out.size(), 1u);
  pick(pp, 2, 10);
  out.clear();
  pp.pick(nullptr, 1, o, out);
  EXPECT_TRUE(out.empty());
}

TEST(PiecePicker, ReleasePeerFreesItsBlocks) {
  PiecePicker pp(4, 2 * kBlock, 8 * kBlock, 1);
  auto a = pick(pp, 1, 3);
  pp.mark_received(a[0], 1);
  pp.release_peer(1);
  EXPECT_TRUE(pp.requesters(a[1]).empty());
  auto b = pick(pp, 2, 8);
  EXPECT_EQ(b.size(), 7u);  // everything except the received block
  EXPECT_EQ(std::count(b.begin(), b.end(), a[0]), 0);
  EXPECT_EQ(std::count(b.begin(), b.end(), a[1]), 1);
}

TEST(PiecePicker, AbortRequestFreesBlock) {
  PiecePicker pp(1, 2 * kBlock, 2 * kBlock, 1);
  auto a = pick(pp, 1, 1);
  pp.abort_request(a[0], 2);  // not its request: no effect
  EXPECT_EQ(pp.requesters(a[0]), std::vector<PeerKey>{1});
  pp.abort_request(a[0], 1);
  EXPECT_FALSE(pp.is_downloading(a[0].piece));
  auto b = pick(pp, 2, 2);
  EXPECT_EQ(b.size(), 2u);
}

TEST(PiecePicker, HashFailResetsPieceAndNamesSenders) {
  PiecePicker pp(2, 4 * kBlock, 8 * kBlock, 1);
  pp.set_priority(PieceIndex(1), Priority::none);
  auto a = pick(pp, 1, 2);
  auto b = pick(pp, 2, 2);
  ASSERT_EQ(pieces_of(a), std::set<std::uint32_t>{0});
  ASSERT_EQ(pieces_of(b), std::set<std::uint32_t>{0});
  for (auto& x : a)
    pp.mark_received(x, 1);
  bool complete = false;
  for (auto& x : b)
    complete = pp.mark_received(x, 2).piece_complete;
  ASSERT_TRUE(complete);
  auto senders = pp.piece_failed(PieceIndex(0));
  std::sort(senders.begin(), senders.end());
  EXPECT_EQ(senders, (std::vector<PeerKey>{1, 2}));
  EXPECT_FALSE(pp.have(PieceIndex(0)));
  EXPECT_EQ(pick(pp, 3, 10).size(), 4u);
}

TEST(PiecePicker, AvailabilityFollowsPeers) {
  PiecePicker pp(3, kBlock, 3 * kBlock, 1);
  Bitfield has(3);
  has.set(1);
  pp.add_peer(has);
  pp.add_have(PieceIndex(2));
  EXPECT_EQ(pp.availability(PieceIndex(1)), 1u);
  EXPECT_EQ(pp.availability(PieceIndex(2)), 1u);
  has.set(2);
  pp.remove_peer(has);
  EXPECT_EQ(pp.availability(PieceIndex(1)), 0u);
  EXPECT_EQ(pp.availability(PieceIndex(2)), 0u);
}

TEST(PiecePicker, ClearHaveMakesPieceWantedAgain) {
  PiecePicker pp(2, kBlock, 2 * kBlock, 1);
  pp.set_have(PieceIndex(0));
  pp.set_have(PieceIndex(1));
  EXPECT_TRUE(pp.complete());
  pp.clear_have(PieceIndex(1));
  auto got = pick(pp, 1, 5);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].piece.value(), 1u);
}

TEST(PiecePicker, ManyPiecesWholeDownload) {
  const std::uint32_t n = 200;
  PiecePicker pp(n, 4 * kBlock, std::uint64_t{n} * 4 * kBlock - 5, 11);
  std::vector<BlockRef> got;
  for (int round = 0; round < 10000 && !pp.complete(); ++round) {
    got.clear();
    pp.pick(nullptr, 1 + round % 3, pick_options(16), got);
    for (auto& b : got) {
      auto r = pp.mark_received(b, 1 + round % 3);
      if (r.piece_complete) pp.piece_passed(b.piece);
    }
  }
  EXPECT_TRUE(pp.complete());
  EXPECT_TRUE(receive_piece(pp, 0, 1) == false);
}

}  // namespace
}  // namespace torfs
