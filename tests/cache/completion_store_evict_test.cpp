// CompletionStore::evict_pieces (cache eviction) and the files-only commit the engine does
// after punching evicted pieces.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "cache/completion_store.hpp"
#include "tests/cache/completion_store_fixture.hpp"

namespace torfs {
namespace {

using testing::pieces;

TorrentRecord record(std::uint8_t seed) {
  return testing::torrent_record(
      seed, {"/data/evict", "evict-" + std::to_string(seed), 100 * 16384, 16384, 100});
}

class CompletionStoreEvictTest : public testing::CompletionStoreFixture {
 protected:
  CompletionStoreEvictTest() : CompletionStoreFixture("torfs-evict") {}
  void SetUp() override {
    CompletionStoreFixture::SetUp();
    reopen();
  }
  void TearDown() override {
    store_.reset();
    CompletionStoreFixture::TearDown();
  }
  void reopen() {
    store_.reset();
    store_ = open_store(base_ / "torfs.db");
    ASSERT_TRUE(store_);
  }
  TorrentId add(std::uint8_t seed) { return upsert(*store_, record(seed)); }
  std::vector<PieceIndex> load(TorrentId id) { return CompletionStoreFixture::load(*store_, id); }

  std::unique_ptr<CompletionStore> store_;
};

TEST_F(CompletionStoreEvictTest, EvictRemovesOnlyThosePiecesOfThatTorrent) {
  const TorrentId a = add(1), b = add(2);
  const std::vector<FileRecord> files{{FileIndex(0), 1638400, 111}};
  ASSERT_TRUE(store_->commit_pieces(a, pieces({1, 2, 3, 50}), files).ok());
  ASSERT_TRUE(store_->commit_pieces(b, pieces({1, 2, 3}), files).ok());

  // Absent pieces (7) are fine: a piece may be evicted before its row was ever committed.
  ASSERT_TRUE(store_->evict_pieces(a, pieces({2, 50, 7})).ok());
  EXPECT_EQ(load(a), pieces({1, 3}));
  EXPECT_EQ(load(b), pieces({1, 2, 3}));
  auto f = store_->load_files(a);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, files);  // eviction leaves the file records to the caller

  // Durable and visible to a fresh connection.
  reopen();
  EXPECT_EQ(load(a), pieces({1, 3}));
}

TEST_F(CompletionStoreEvictTest, FilesOnlyCommitAfterPunchAndLaterCommitsStillWork) {
  const TorrentId a = add(3);
  ASSERT_TRUE(store_->commit_pieces(a, pieces({4, 5}), {{{FileIndex(0), 1638400, 100}}}).ok());
  ASSERT_TRUE(store_->evict_pieces(a, pieces({4})).ok());
  // After punching, the engine records the file's new mtime with no pieces.
  const std::vector<FileRecord> punched{{FileIndex(0), 1638400, 200}};
  ASSERT_TRUE(store_->commit_pieces(a, {}, punched).ok());
  auto f = store_->load_files(a);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, punched);
  EXPECT_EQ(load(a), pieces({5}));
  // The connection is back to normal commits (the PRAGMA was restored outside a transaction).
  ASSERT_TRUE(store_->commit_pieces(a, pieces({4, 9}), punched).ok());
  EXPECT_EQ(load(a), pieces({4, 5, 9}));
  ASSERT_TRUE(store_->evict_pieces(a, {}).ok());
  EXPECT_EQ(load(a), pieces({4, 5, 9}));
}

}  // namespace
}  // namespace torfs
