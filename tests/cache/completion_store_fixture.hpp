// Shared by the CompletionStore tests: a scratch directory per test, a torrent row builder and
// helpers that open a store / upsert / load with the error message in the failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cache/completion_store.hpp"
#include "tests/common/test_util.hpp"

namespace torfs::testing {

// The geometry part of a TorrentRecord (the info hash comes from a seed byte).
struct RecordShape {
  std::string data_dir;
  std::string name;
  std::uint64_t total_size = 0;
  std::uint32_t piece_length = 0;
  std::uint32_t num_pieces = 0;
};

// A row whose info hash is sha1 of the single byte `seed`: distinct seeds, distinct torrents.
inline TorrentRecord torrent_record(std::uint8_t seed, RecordShape shape) {
  TorrentRecord r;
  r.info_hash = sha1(std::string(1, static_cast<char>(seed)));
  r.data_dir = std::move(shape.data_dir);
  r.name = std::move(shape.name);
  r.total_size = shape.total_size;
  r.piece_length = shape.piece_length;
  r.num_pieces = shape.num_pieces;
  return r;
}

inline std::vector<PieceIndex> pieces(std::initializer_list<std::uint32_t> list) {
  return std::vector<PieceIndex>(list.begin(), list.end());
}

// base_ is a fresh mode-0700 directory for the test (removed afterwards). Subclasses that keep a
// store open must close it before calling TearDown().
class CompletionStoreFixture : public ::testing::Test {
 protected:
  explicit CompletionStoreFixture(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    base_ = make_temp_dir(prefix_);
    ASSERT_FALSE(base_.empty());
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  // The opened store, or null after a failed expectation that names the error.
  static std::unique_ptr<CompletionStore> open_store(const std::filesystem::path& db) {
    auto s = CompletionStore::open(db);
    EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }
  static TorrentId upsert(CompletionStore& s, const TorrentRecord& r) {
    auto id = s.upsert_torrent(r);
    EXPECT_TRUE(id.ok()) << (id ? "" : id.error().message);
    return id ? *id : -1;
  }
  static std::vector<PieceIndex> load(CompletionStore& s, TorrentId id) {
    auto p = s.load_pieces(id);
    EXPECT_TRUE(p.ok()) << (p ? "" : p.error().message);
    return p ? *p : std::vector<PieceIndex>{};
  }

  std::filesystem::path base_;

 private:
  std::string prefix_;
};

}  // namespace torfs::testing
