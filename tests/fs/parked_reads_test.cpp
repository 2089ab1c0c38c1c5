#include "fs/parked_reads.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace torfs::fs {
namespace {

using Clock = ParkedRead::Clock;

fuse_req_t fake_req(std::uintptr_t n) {
  return reinterpret_cast<fuse_req_t>(n * 64);
}

TEST(ParkedReads, OnlyTheFirstClaimWins) {
  ParkedReads reads;
  auto r = reads.park(fake_req(1), FileIndex(0), 0, 10, Clock::now());
  ASSERT_TRUE(r);
  EXPECT_EQ(reads.size(), 1u);
  EXPECT_TRUE(reads.claim(*r));
  EXPECT_FALSE(reads.claim(*r));
  EXPECT_EQ(reads.size(), 0u);
  reads.finished();
  reads.wait_idle();
}

TEST(ParkedReads, InterruptBeforeTicketIsReportedBySetTicket) {
  ParkedReads reads;
  auto r = reads.park(fake_req(1), FileIndex(0), 0, 10, Clock::now());
  EXPECT_EQ(reads.interrupt(fake_req(1)), nullptr);  // no ticket yet: only remembered
  EXPECT_TRUE(reads.set_ticket(*r, 7));
  EXPECT_EQ(reads.ticket_of(*r), 7u);
}

TEST(ParkedReads, InterruptAfterTicketReturnsTheRead) {
  ParkedReads reads;
  auto r = reads.park(fake_req(1), FileIndex(0), 0, 10, Clock::now());
  EXPECT_FALSE(reads.set_ticket(*r, 7));
  EXPECT_EQ(reads.interrupt(fake_req(1)), r);
  EXPECT_EQ(reads.interrupt(fake_req(2)), nullptr);
  ASSERT_TRUE(reads.claim(*r));
  reads.finished();
  EXPECT_EQ(reads.interrupt(fake_req(1)), nullptr);  // answered: gone from the table
}

TEST(ParkedReads, ClaimExpiredTakesOnlyPastDeadlines) {
  ParkedReads reads;
  const auto now = Clock::now();
  auto old = reads.park(fake_req(1), FileIndex(0), 0, 1, now - std::chrono::seconds(5));
  auto young = reads.park(fake_req(2), FileIndex(0), 0, 1, now + std::chrono::seconds(60));
  auto expired = reads.claim_expired(now);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0], old);
  EXPECT_FALSE(reads.claim(*old));
  EXPECT_TRUE(reads.claim(*young));
  reads.finished();
  reads.finished();
}

TEST(ParkedReads, CloseClaimsEverythingAndRefusesNewReads) {
  ParkedReads reads;
  auto a = reads.park(fake_req(1), FileIndex(0), 0, 1, Clock::now());
  auto b = reads.park(fake_req(2), FileIndex(0), 0, 1, Clock::now());
  auto all = reads.close_and_claim_all();
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(reads.closed());
  EXPECT_EQ(reads.park(fake_req(3), FileIndex(0), 0, 1, Clock::now()), nullptr);
  EXPECT_FALSE(reads.claim(*a));
  // wait_idle blocks until the claimed replies are finished.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    reads.finished();
    reads.finished();
  });
  reads.wait_idle();
  t.join();
}

TEST(ParkedReads, ConcurrentClaimsReplyExactlyOnce) {
  for (int round = 0; round < 200; ++round) {
    ParkedReads reads;
    auto r = reads.park(fake_req(1), FileIndex(0), 0, 1, Clock::now());
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        if (reads.claim(*r)) {
          ++winners;
          reads.finished();
        }
      });
    }
    auto all = reads.close_and_claim_all();
    for (auto& x : all) {
      (void)x;
      ++winners;
      reads.finished();
    }
    for (auto& t : threads)
      t.join();
    reads.wait_idle();
    EXPECT_EQ(winners.load(), 1);
  }
}

TEST(ParkedReads, ReparkPutsAClaimedReadBackUntilClosedOrLate) {
  ParkedReads reads;
  auto r = reads.park(fake_req(1), FileIndex(0), 0, 10, Clock::now() + std::chrono::seconds(60));
  EXPECT_FALSE(reads.repark(r));  // not claimed: nothing to undo
  ASSERT_TRUE(reads.claim(*r));
  reads.set_ticket(*r, 7);
  ASSERT_TRUE(reads.repark(r));
  reads.finished();  // the first claim's bookkeeping still ends normally
  EXPECT_EQ(reads.size(), 1u);
  EXPECT_FALSE(reads.ticket_of(*r).has_value());  // a new wait gets a new ticket
  ASSERT_TRUE(reads.claim(*r));                   // and it can be claimed again, once
  EXPECT_FALSE(reads.claim(*r));
  reads.finished();
  reads.wait_idle();

  auto late = reads.park(fake_req(2), FileIndex(0), 0, 10, Clock::now() - std::chrono::seconds(1));
  ASSERT_TRUE(reads.claim(*late));
  EXPECT_FALSE(reads.repark(late));  // past its deadline: the claimer answers it
  reads.finished();

  auto closing =
      reads.park(fake_req(3), FileIndex(0), 0, 10, Clock::now() + std::chrono::seconds(60));
  ASSERT_TRUE(reads.claim(*closing));
  EXPECT_TRUE(reads.close_and_claim_all().empty());
  EXPECT_FALSE(reads.repark(closing));  // closed: the claimer answers it
  reads.finished();
  EXPECT_EQ(reads.size(), 0u);
}

}  // namespace
}  // namespace torfs::fs
