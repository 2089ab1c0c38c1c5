// CompletionStore::evict_pieces (cache eviction) and the files-only commit the engine does
// after punching evicted pieces.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "cache/completion_store.hpp"
#include "tests/common/test_util.hpp"

namespace torfs {
namespace {

namespace fs = std::filesystem;

TorrentRecord record(std::uint8_t seed) {
  TorrentRecord r;
  r.info_hash = sha1(std::string(1, static_cast<char>(seed)));
  r.data_dir = "/data/evict";
  r.name = "evict-" + std::to_string(seed);
  r.total_size = 100 * 16384;
  r.piece_length = 16384;
  r.num_pieces = 100;
  return r;
}

std::vector<PieceIndex> pieces(std::initializer_list<std::uint32_t> list) {
  std::vector<PieceIndex> out;
  for (auto p : list)
    out.emplace_back(p);
  return out;
}

class CompletionStoreEvictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::make_temp_dir("torfs-evict");
    ASSERT_FALSE(base_.empty());
    reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(base_);
  }
  void reopen() {
    store_.reset();
    auto s = CompletionStore::open(base_ / "torfs.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  TorrentId add(std::uint8_t seed) {
    auto id = store_->upsert_torrent(record(seed));
    EXPECT_TRUE(id.ok()) << (id ? "" : id.error().message);
    return id ? *id : -1;
  }
  std::vector<PieceIndex> load(TorrentId id) {
    auto p = store_->load_pieces(id);
    EXPECT_TRUE(p.ok()) << (p ? "" : p.error().message);
    return p ? *p : std::vector<PieceIndex>{};
  }

  fs::path base_;
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
