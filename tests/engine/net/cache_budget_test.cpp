// CacheBudget: LRU eviction across members, protection and pins, stale candidates, detach.
#include "engine/net/cache_budget.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace torfs {
namespace {

class FakeMember : public CacheMember {
 public:
  struct Piece {
    std::uint64_t stamp = 0;
    std::uint32_t bytes = 100;
    bool have = true;
    bool is_protected = false;  // waiter / reader window: not even a candidate
    bool pinned = false;        // a reader pinned it after the scan: try_evict refuses
  };
  FakeMember(std::string name, std::vector<std::string>* log) : name_(std::move(name)), log_(log) {}

  void eviction_candidates(std::vector<CacheCandidate>& out) override {
    for (auto& [p, piece] : pieces) {
      if (piece.have && !piece.is_protected)
        out.push_back(CacheCandidate{piece.stamp, PieceIndex(p), piece.bytes});
    }
  }
  std::uint64_t last_used(PieceIndex p) const override { return pieces.at(p.value()).stamp; }
  bool try_evict(PieceIndex p) override {
    Piece& piece = pieces.at(p.value());
    if (!piece.have || piece.is_protected || piece.pinned) return false;
    piece.have = false;
    evicted_.push_back(p.value());
    return true;
  }
  std::function<void()> take_eviction_job() override {
    if (evicted_.empty()) return {};
    std::string entry = name_ + ":";
    for (auto p : evicted_)
      entry += " " + std::to_string(p);
    evicted_.clear();
    return [log = log_, entry] { log->push_back(entry); };
  }
  std::uint64_t resident() const {
    std::uint64_t n = 0;
    for (auto& [p, piece] : pieces)
      n += piece.have ? piece.bytes : 0;
    return n;
  }

  std::map<std::uint32_t, Piece> pieces;

 private:
  std::string name_;
  std::vector<std::string>* log_;
  std::vector<std::uint32_t> evicted_;
};

void join(CacheBudget& budget, FakeMember& m) {
  budget.attach(m);
  budget.add_resident(m, m.resident());
}

TEST(CacheBudget, UnlimitedNeverEvicts) {
  std::vector<std::string> log;
  FakeMember a("a", &log);
  a.pieces[0] = {1};
  CacheBudget budget(0);
  join(budget, a);
  EXPECT_TRUE(budget.has_room(1ull << 40));
  auto r = budget.reserve(1 << 20);
  EXPECT_FALSE(r.evict);
  EXPECT_EQ(r.evicted_pieces, 0u);
  EXPECT_TRUE(a.pieces[0].have);
}

TEST(CacheBudget, EvictsLeastRecentlyUsedAcrossMembersAndRunsTheirJobs) {
  std::vector<std::string> log;
  FakeMember a("a", &log), b("b", &log);
  a.pieces[0] = {10};
  a.pieces[1] = {30};
  b.pieces[5] = {20};
  CacheBudget budget(300);
  join(budget, a);
  join(budget, b);
  EXPECT_EQ(budget.resident(), 300u);
  EXPECT_FALSE(budget.has_room(1));

  auto r1 = budget.reserve(100);
  EXPECT_EQ(r1.evicted_pieces, 1u);
  EXPECT_EQ(r1.evicted_bytes, 100u);
  EXPECT_EQ(r1.over, 0u);
  EXPECT_FALSE(a.pieces[0].have);
  ASSERT_TRUE(r1.evict);
  r1.evict();
  EXPECT_EQ(log, std::vector<std::string>{"a: 0"});
  EXPECT_EQ(budget.resident(), 200u);
  EXPECT_EQ(budget.reserved(), 100u);

  // The write is done and verified: the member reports it resident again.
  budget.release(100);
  b.pieces[6] = {40};
  budget.add_resident(b, 100);
  auto r2 = budget.reserve(200);  // needs two pieces: b/5 (20) then a/1 (30)
  EXPECT_EQ(r2.evicted_pieces, 2u);
  ASSERT_TRUE(r2.evict);
  r2.evict();
  EXPECT_EQ(log.size(), 3u);
  EXPECT_FALSE(b.pieces[5].have);
  EXPECT_FALSE(a.pieces[1].have);
  EXPECT_TRUE(b.pieces[6].have);
  EXPECT_EQ(budget.resident() + budget.reserved(), 300u);
}

TEST(CacheBudget, NeverEvictsProtectedOrPinnedAndReportsTheOverflow) {
  std::vector<std::string> log;
  FakeMember a("a", &log);
  a.pieces[0] = {1, 100, true, true};         // in a reader's window
  a.pieces[1] = {2, 100, true, false, true};  // pinned by a read
  a.pieces[2] = {3};
  CacheBudget budget(300);
  join(budget, a);
  auto r = budget.reserve(200);
  EXPECT_EQ(r.evicted_pieces, 1u);
  EXPECT_FALSE(a.pieces[2].have);
  EXPECT_TRUE(a.pieces[0].have);
  EXPECT_TRUE(a.pieces[1].have);
  EXPECT_EQ(r.over, 100u);  // 200 resident + 200 reserved against 300
  budget.release(200);
  EXPECT_TRUE(budget.has_room(100));
}

TEST(CacheBudget, PieceUsedAfterTheScanIsNotEvictedFirst) {
  std::vector<std::string> log;
  FakeMember a("a", &log);
  for (std::uint32_t p = 0; p < 4; ++p)
    a.pieces[p] = {10 + p};
  CacheBudget budget(400);
  join(budget, a);
  auto r1 = budget.reserve(100);  // scans, evicts piece 0; 1..3 stay queued
  EXPECT_FALSE(a.pieces[0].have);
  a.pieces[1].stamp = 99;  // read again: now the most recently used
  budget.release(100);
  budget.add_resident(a, 100);
  a.pieces[7] = {50};
  auto r2 = budget.reserve(100);
  EXPECT_EQ(r2.evicted_pieces, 1u);
  EXPECT_TRUE(a.pieces[1].have);
  EXPECT_FALSE(a.pieces[2].have);
}

TEST(CacheBudget, EvictsMoreThanOneScanQueueAtOnce) {
  // Restarted with a much smaller cap: 600 cached pieces, room for 100.
  std::vector<std::string> log;
  FakeMember a("a", &log);
  for (std::uint32_t p = 0; p < 600; ++p)
    a.pieces[p] = {1000 - p};  // the highest pieces were used longest ago
  CacheBudget budget(100 * 100);
  join(budget, a);
  auto r = budget.reserve(0);
  EXPECT_EQ(r.evicted_pieces, 500u);
  EXPECT_EQ(r.over, 0u);
  EXPECT_EQ(budget.resident(), 100u * 100);
  for (std::uint32_t p = 0; p < 600; ++p)
    EXPECT_EQ(a.pieces[p].have, p < 100) << p;
  ASSERT_TRUE(r.evict);
  r.evict();
  EXPECT_EQ(log.size(), 1u);
}

TEST(CacheBudget, DetachForgetsTheMembersBytesAndCandidates) {
  std::vector<std::string> log;
  FakeMember a("a", &log), b("b", &log);
  a.pieces[0] = {1};
  a.pieces[1] = {2};
  b.pieces[0] = {3};
  CacheBudget budget(300);
  join(budget, a);
  join(budget, b);
  auto r = budget.reserve(100);  // queues a/1 and b/0 behind the evicted a/0
  EXPECT_FALSE(a.pieces[0].have);
  budget.release(100);
  budget.detach(a);
  EXPECT_EQ(budget.resident(), 100u);
  EXPECT_TRUE(budget.has_room(200));
  auto r2 = budget.reserve(300);
  EXPECT_EQ(r2.evicted_pieces, 1u);
  EXPECT_TRUE(a.pieces[1].have);  // detached: never touched again
  EXPECT_FALSE(b.pieces[0].have);
}

}  // namespace
}  // namespace torfs
