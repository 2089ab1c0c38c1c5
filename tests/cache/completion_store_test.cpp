#include "cache/completion_store.hpp"
#include "tests/cache/completion_store_fixture.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace torfs {
namespace {

namespace fs = std::filesystem;

using testing::pieces;

TorrentRecord record(std::uint8_t seed, std::string data_dir = "/data/t") {
  // total_size > 4 GiB round-trips through INTEGER.
  return testing::torrent_record(seed, {std::move(data_dir), "torrent-" + std::to_string(seed),
                                        10'000'000'000ull, 1 << 20, 9537});
}

class CompletionStoreTest : public testing::CompletionStoreFixture {
 protected:
  CompletionStoreTest() : CompletionStoreFixture("torfs-db") {}
  void SetUp() override {
    CompletionStoreFixture::SetUp();
    db_path_ = base_ / "state/torfs/torfs.db";
  }

  std::unique_ptr<CompletionStore> open() { return open_store(db_path_); }
  // Writes `n` piece rows and closes, leaving a multi-page database without a WAL.
  void make_populated_db(std::uint32_t n) {
    auto s = open();
    const TorrentId id = upsert(*s, record(1));
    std::vector<PieceIndex> all;
    for (std::uint32_t p = 0; p < n; ++p)
      all.emplace_back(p);
    ASSERT_TRUE(s->commit_pieces(id, all, {}).ok());
  }
  std::vector<fs::path> corrupt_copies() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(db_path_.parent_path())) {
      const std::string name = e.path().filename().string();
      if (name.rfind("torfs.db.corrupt-", 0) == 0 && name.find("-wal") == std::string::npos &&
          name.find("-shm") == std::string::npos) {
        out.push_back(e.path());
      }
    }
    return out;
  }
  void expect_reset_to_fresh_db(const std::string& reason_part) {
    auto s = open();
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->was_reset());
    EXPECT_NE(s->reset_reason().find(reason_part), std::string::npos) << s->reset_reason();
    EXPECT_NE(s->reset_reason().find(db_path_.string()), std::string::npos);
    EXPECT_EQ(corrupt_copies().size(), 1u);
    const TorrentId id = upsert(*s, record(1));
    EXPECT_TRUE(load(*s, id).empty());
    ASSERT_TRUE(s->commit_pieces(id, pieces({4}), {}).ok());
    s.reset();
    s = open();  // the fresh database is fine now
    EXPECT_FALSE(s->was_reset());
    EXPECT_EQ(load(*s, upsert(*s, record(1))), pieces({4}));
  }

  fs::path db_path_;
};

TEST_F(CompletionStoreTest, RoundTripPiecesAndFiles) {
  auto s = open();
  EXPECT_FALSE(s->was_reset());
  const TorrentId id = upsert(*s, record(1));
  EXPECT_EQ(upsert(*s, record(1)), id);
  EXPECT_TRUE(load(*s, id).empty());
  const std::vector<FileRecord> files = {{FileIndex(0), 123, 1'700'000'000'123'456'789},
                                         {FileIndex(2), 5'000'000'000ull, -1}};
  ASSERT_TRUE(s->commit_pieces(id, pieces({9536, 3, 1}), files).ok());
  ASSERT_TRUE(s->commit_pieces(id, pieces({3, 2}), {}).ok());  // duplicates are fine
  EXPECT_EQ(load(*s, id), pieces({1, 2, 3, 9536}));
  auto loaded = s->load_files(id);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, files);
  const std::vector<FileRecord> changed = {{FileIndex(2), 7, 8}};
  ASSERT_TRUE(s->commit_pieces(id, {}, changed).ok());
  EXPECT_EQ(s->load_files(id)->at(1), changed[0]);
  ASSERT_TRUE(s->remove_pieces(id, pieces({2, 9536, 77})).ok());
  EXPECT_EQ(load(*s, id), pieces({1, 3}));
}

TEST_F(CompletionStoreTest, CommitIsAllOrNothing) {
  auto s = open();
  const TorrentId id = upsert(*s, record(1));
  auto r = s->commit_pieces(id, pieces({1, 2, 9537}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("9537"), std::string::npos);
  EXPECT_TRUE(load(*s, id).empty());
  EXPECT_FALSE(s->commit_pieces(id + 100, pieces({1}), {}).ok());
}

TEST_F(CompletionStoreTest, ReopenKeepsEverythingWithPrivatePermissions) {
  {
    auto s = open();
    const TorrentId id = upsert(*s, record(1));
    ASSERT_TRUE(s->commit_pieces(id, pieces({5, 6}), {}).ok());
    ASSERT_TRUE(s->set_metainfo(id, std::string("d4:name1:x\0e", 12)).ok());
    ASSERT_TRUE(s->add_transfer(id, 100, 2000).ok());
    ASSERT_TRUE(s->add_transfer(id, 1, 5'000'000'000ull).ok());
    ASSERT_TRUE(s->set_setting("listen", "0.0.0.0:6881").ok());
    ASSERT_TRUE(s->set_setting("listen", "127.0.0.1:7000").ok());
  }
  auto s = open();
  EXPECT_FALSE(s->was_reset());
  const TorrentId id = upsert(*s, record(1));
  EXPECT_EQ(load(*s, id), pieces({5, 6}));
  auto meta = s->metainfo_for(record(1).info_hash);
  ASSERT_TRUE(meta.ok() && meta->has_value());
  EXPECT_EQ(**meta, std::string("d4:name1:x\0e", 12));
  EXPECT_FALSE(s->metainfo_for(record(2).info_hash)->has_value());
  EXPECT_EQ(*s->get_setting("listen"), "127.0.0.1:7000");
  EXPECT_FALSE(s->get_setting("nope")->has_value());
  auto list = s->list_torrents();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].record.info_hash, record(1).info_hash);
  EXPECT_EQ((*list)[0].record.total_size, 10'000'000'000ull);
  EXPECT_EQ((*list)[0].uploaded, 101u);
  EXPECT_EQ((*list)[0].downloaded, 5'000'002'000ull);
  EXPECT_EQ((*list)[0].pieces_have, 2u);
  struct stat st {};
  ASSERT_EQ(::stat(db_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(db_path_.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(CompletionStoreTest, GeometryChangeClearsPiecesAndFiles) {
  auto s = open();
  TorrentRecord r = record(1);
  const TorrentId id = upsert(*s, r);
  const std::vector<FileRecord> files = {{FileIndex(0), 1, 2}};
  ASSERT_TRUE(s->commit_pieces(id, pieces({1, 2}), files).ok());
  r.name = "renamed";
  EXPECT_EQ(upsert(*s, r), id);
  EXPECT_EQ(load(*s, id), pieces({1, 2}));  // a new name is not a new geometry
  r.piece_length = 1 << 19;
  r.num_pieces = 19074;
  EXPECT_EQ(upsert(*s, r), id);
  EXPECT_TRUE(load(*s, id).empty());
  EXPECT_TRUE(s->load_files(id)->empty());
}

TEST_F(CompletionStoreTest, SameTorrentInTwoDataDirsIsTwoRows) {
  auto s = open();
  const TorrentId a = upsert(*s, record(1, "/a"));
  const TorrentId b = upsert(*s, record(1, "/b"));
  EXPECT_NE(a, b);
  ASSERT_TRUE(s->commit_pieces(a, pieces({1}), {}).ok());
  EXPECT_TRUE(load(*s, b).empty());
  const std::vector<FileRecord> files = {{FileIndex(0), 1, 1}};
  ASSERT_TRUE(s->commit_pieces(b, pieces({2}), files).ok());
  ASSERT_TRUE(s->remove_torrent(b).ok());
  EXPECT_EQ(s->list_torrents()->size(), 1u);
  EXPECT_TRUE(load(*s, b).empty());
  EXPECT_TRUE(s->load_files(b)->empty());
  EXPECT_EQ(load(*s, a), pieces({1}));
}

TEST_F(CompletionStoreTest, GarbageFileIsMovedAsideAndReplaced) {
  fs::create_directories(db_path_.parent_path());
  ::chmod(db_path_.parent_path().c_str(), 0700);
  { std::ofstream(db_path_, std::ios::binary) << std::string(5000, 'x'); }
  expect_reset_to_fresh_db("not a database");
  std::ifstream in(corrupt_copies().at(0), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), std::string(5000, 'x'));
}

TEST_F(CompletionStoreTest, ZeroLengthFileIsReset) {
  fs::create_directories(db_path_.parent_path());
  ::chmod(db_path_.parent_path().c_str(), 0700);
  { std::ofstream(db_path_, std::ios::binary); }
  expect_reset_to_fresh_db("empty");
}

TEST_F(CompletionStoreTest, TruncatedFileIsReset) {
  make_populated_db(9000);
  const auto size = fs::file_size(db_path_);
  ASSERT_GT(size, 64u * 1024);
  ASSERT_FALSE(fs::exists(db_path_.string() + "-wal"));
  fs::resize_file(db_path_, size / 2);
  expect_reset_to_fresh_db("unusable");
}

TEST_F(CompletionStoreTest, NewerSchemaIsReset) {
  make_populated_db(10);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  expect_reset_to_fresh_db("schema version 99");
}

TEST_F(CompletionStoreTest, OldSchemaIsMigrated) {
  fs::create_directories(db_path_.parent_path());
  ::chmod(db_path_.parent_path().c_str(), 0700);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);  // user_version 0, foreign table
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE other(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = open();
  EXPECT_FALSE(s->was_reset());
  const TorrentId id = upsert(*s, record(3));
  ASSERT_TRUE(s->commit_pieces(id, pieces({0}), {}).ok());
  EXPECT_EQ(load(*s, id), pieces({0}));
}

TEST_F(CompletionStoreTest, RefusesSymlinkedDatabaseOrDirectory) {
  fs::create_directories(base_ / "elsewhere");
  fs::create_directories(db_path_.parent_path());
  ::chmod(db_path_.parent_path().c_str(), 0700);
  fs::create_symlink(base_ / "elsewhere/db", db_path_);
  auto s = CompletionStore::open(db_path_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("symlink"), std::string::npos) << s.error().message;
  fs::create_directory_symlink(base_ / "elsewhere", base_ / "state/link");
  EXPECT_FALSE(CompletionStore::open(base_ / "state/link/torfs.db").ok());
  EXPECT_TRUE(fs::is_empty(base_ / "elsewhere"));
}

TEST_F(CompletionStoreTest, ConcurrentThreadsAndTwoStoresOnOneFile) {
  auto a = open();
  auto b = open();
  const TorrentId id = upsert(*a, record(1));
  EXPECT_EQ(upsert(*b, record(1)), id);
  constexpr std::uint32_t kPerThread = 300;
  std::atomic<bool> failed{false};
  auto worker = [&](CompletionStore* s, std::uint32_t first) {
    for (std::uint32_t p = first; p < first + kPerThread; ++p) {
      const PieceIndex piece(p);
      if (!s->commit_pieces(id, std::span(&piece, 1), {}).ok()) failed = true;
      if (p % 50 == 0 && !s->load_pieces(id).ok()) failed = true;
      if (!s->add_transfer(id, 1, 0).ok()) failed = true;
    }
  };
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < 4; ++t) {
    threads.emplace_back(worker, t % 2 ? a.get() : b.get(), t * kPerThread);
  }
  for (auto& t : threads)
    t.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(load(*a, id).size(), 4 * kPerThread);
  EXPECT_EQ(load(*b, id).size(), 4 * kPerThread);
  EXPECT_EQ(b->list_torrents()->at(0).uploaded, 4 * kPerThread);
}

}  // namespace
}  // namespace torfs
