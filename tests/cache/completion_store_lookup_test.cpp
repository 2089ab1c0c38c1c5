// CompletionStore::find_torrent: one torrent's row by id, the same as list_torrents() has it.
#include <gtest/gtest.h>

#include <filesystem>

#include "cache/completion_store.hpp"
#include "tests/common/test_util.hpp"

namespace torfs {
namespace {

namespace fs = std::filesystem;

TorrentRecord record(std::uint8_t seed) {
  TorrentRecord r;
  r.info_hash = sha1(std::string(1, static_cast<char>(seed)));
  r.data_dir = "/data/lookup-" + std::to_string(seed);
  r.name = "lookup-" + std::to_string(seed);
  r.total_size = 10 * 16384 + seed;
  r.piece_length = 16384;
  r.num_pieces = 11;
  return r;
}

class CompletionStoreLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::make_temp_dir("torfs-lookup");
    ASSERT_FALSE(base_.empty());
    auto s = CompletionStore::open(base_ / "state" / "torfs.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(base_);
  }

  TorrentId add(std::uint8_t seed) {
    auto id = store_->upsert_torrent(record(seed));
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : 0;
  }

  fs::path base_;
  std::unique_ptr<CompletionStore> store_;
};

TEST_F(CompletionStoreLookupTest, FindsOneTorrentAmongManyWithItsTotals) {
  std::vector<TorrentId> ids;
  for (std::uint8_t seed = 1; seed <= 5; ++seed)
    ids.push_back(add(seed));
  ASSERT_TRUE(store_->add_transfer(ids[2], 300, 7'000'000'000ull).ok());
  ASSERT_TRUE(store_->add_transfer(ids[2], 1, 1).ok());
  ASSERT_TRUE(store_->add_transfer(ids[3], 99, 98).ok());
  const PieceIndex have[] = {PieceIndex(0), PieceIndex(10)};
  ASSERT_TRUE(store_->commit_pieces(ids[2], have, {}).ok());

  auto found = store_->find_torrent(ids[2]);
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_TRUE(found->has_value());
  const StoredTorrent& t = **found;
  EXPECT_EQ(t.id, ids[2]);
  EXPECT_EQ(t.record.info_hash, record(3).info_hash);
  EXPECT_EQ(t.record.data_dir, "/data/lookup-3");
  EXPECT_EQ(t.record.name, "lookup-3");
  EXPECT_EQ(t.record.total_size, 10u * 16384 + 3);
  EXPECT_EQ(t.uploaded, 301u);
  EXPECT_EQ(t.downloaded, 7'000'000'001ull);
  EXPECT_EQ(t.pieces_have, 2u);

  auto other = store_->find_torrent(ids[0]);
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_EQ((*other)->uploaded, 0u);
  EXPECT_EQ((*other)->pieces_have, 0u);
}

TEST_F(CompletionStoreLookupTest, AgreesWithListTorrents) {
  for (std::uint8_t seed = 1; seed <= 4; ++seed) {
    const TorrentId id = add(seed);
    ASSERT_TRUE(store_->add_transfer(id, seed * 10u, seed * 100u).ok());
  }
  auto list = store_->list_torrents();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 4u);
  for (const StoredTorrent& listed : *list) {
    auto found = store_->find_torrent(listed.id);
    ASSERT_TRUE(found.ok() && found->has_value()) << listed.id;
    EXPECT_EQ((*found)->record.info_hash, listed.record.info_hash);
    EXPECT_EQ((*found)->record.data_dir, listed.record.data_dir);
    EXPECT_EQ((*found)->uploaded, listed.uploaded);
    EXPECT_EQ((*found)->downloaded, listed.downloaded);
    EXPECT_EQ((*found)->added_at, listed.added_at);
    EXPECT_EQ((*found)->last_seen_at, listed.last_seen_at);
  }
}

TEST_F(CompletionStoreLookupTest, UnknownAndRemovedIdsAreNotFound) {
  const TorrentId kept = add(1);
  const TorrentId removed = add(2);
  ASSERT_TRUE(store_->add_transfer(removed, 5, 5).ok());
  ASSERT_TRUE(store_->remove_torrent(removed).ok());

  auto gone = store_->find_torrent(removed);
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_FALSE(gone->has_value());
  auto never = store_->find_torrent(kept + removed + 1000);
  ASSERT_TRUE(never.ok());
  EXPECT_FALSE(never->has_value());
  EXPECT_TRUE(store_->find_torrent(kept)->has_value());
}

TEST_F(CompletionStoreLookupTest, TotalsSurviveReopenAndReUpsert) {
  const TorrentId id = add(7);
  ASSERT_TRUE(store_->add_transfer(id, 1234, 5678).ok());
  store_.reset();
  auto reopened = CompletionStore::open(base_ / "state" / "torfs.db");
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(*reopened);
  // What Session::add_torrent does on the next mount: upsert, then look the id up.
  const TorrentId again = add(7);
  EXPECT_EQ(again, id);
  auto found = store_->find_torrent(again);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->uploaded, 1234u);
  EXPECT_EQ((*found)->downloaded, 5678u);
}

}  // namespace
}  // namespace torfs
