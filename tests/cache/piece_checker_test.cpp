#include "cache/piece_checker.hpp"
#include "tests/common/test_util.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

namespace torfs {
namespace {

namespace fs = std::filesystem;
using S = PieceState;

using testing::entry;

class PieceCheckerTest : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kPiece = 16384;

  void SetUp() override {
    root_ = testing::make_temp_dir("torfs-check");
    ASSERT_FALSE(root_.empty());
    // Pieces: 0-1 in a; 2 = a's tail + pad; 3-5 in b (zero-length file between);
    // 6.. in c, with an odd last piece.
    const std::uint32_t a = 2 * kPiece + 1000;
    layout_ = FileLayout::create(
                  {entry("t/a", a), entry("t/.pad/x", kPiece - 1000, true),
                   entry("t/b", 3 * kPiece), entry("t/empty", 0), entry("t/c", 5 * kPiece + 77)},
                  kPiece)
                  .value();
    ASSERT_EQ(layout_.num_pieces(), 12u);
    stream_.resize(layout_.total_size());
    for (std::size_t i = 0; i < stream_.size(); ++i) {
      stream_[i] = static_cast<char>((i * 2654435761u) >> 13);
    }
    std::fill_n(stream_.begin() + a, kPiece - 1000, '\0');  // pad bytes are zeros
    for (std::uint32_t p = 0; p < layout_.num_pieces(); ++p) {
      hashes_.push_back(sha1(std::string_view(stream_).substr(layout_.piece_offset(PieceIndex(p)),
                                                              layout_.piece_size(PieceIndex(p)))));
    }
    auto store = DataStore::open(root_, layout_);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  void write_all() { ASSERT_TRUE(store_->write(0, stream_).ok()); }
  void write_piece(std::uint32_t p) {
    const auto off = layout_.piece_offset(PieceIndex(p));
    ASSERT_TRUE(
        store_->write(off, std::string_view(stream_).substr(off, layout_.piece_size(PieceIndex(p))))
            .ok());
  }
  std::vector<S> check(CheckOptions options = {}) {
    return check_pieces(*store_, layout_, hashes_, options);
  }

  fs::path root_;
  FileLayout layout_;
  std::string stream_;
  std::vector<Sha1Hash> hashes_;
  std::unique_ptr<DataStore> store_;
};

TEST_F(PieceCheckerTest, EverythingGoodWhenAllWritten) {
  write_all();
  EXPECT_EQ(check(), std::vector<S>(12, S::good));
}

TEST_F(PieceCheckerTest, NothingWrittenIsAllMissing) {
  EXPECT_EQ(check(), std::vector<S>(12, S::missing));
}

TEST_F(PieceCheckerTest, CorruptByteMakesOnePieceBad) {
  write_all();
  const int fd = store_->file_fd(FileIndex(2));  // t/b
  ASSERT_GE(fd, 0);
  const char flipped = static_cast<char>(~stream_[layout_.file(FileIndex(2)).offset + kPiece + 5]);
  ASSERT_EQ(::pwrite(fd, &flipped, 1, kPiece + 5), 1);  // inside piece 4
  auto states = check();
  for (std::uint32_t p = 0; p < 12; ++p)
    EXPECT_EQ(states[p], p == 4 ? S::bad : S::good) << p;
}

TEST_F(PieceCheckerTest, PadBytesCountAsPresentAndAbsentFilesAsMissing) {
  write_piece(2);  // a's tail + pad: a exists now (sparse), pad never does
  write_piece(3);
  auto states = check();
  EXPECT_EQ(states[0], S::bad);  // a exists at full size but these bytes are holes
  EXPECT_EQ(states[2], S::good);
  EXPECT_EQ(states[3], S::good);
  EXPECT_EQ(states[4], S::bad);
  for (std::uint32_t p = 6; p < 12; ++p)
    EXPECT_EQ(states[p], S::missing) << p;
}

TEST_F(PieceCheckerTest, ShortFileMakesTrailingPiecesMissing) {
  write_all();
  ASSERT_EQ(::ftruncate(store_->file_fd(FileIndex(4)), 2 * kPiece + 10), 0);  // t/c
  auto states = check();
  EXPECT_EQ(states[6], S::good);
  EXPECT_EQ(states[7], S::good);
  for (std::uint32_t p = 8; p < 12; ++p)
    EXPECT_EQ(states[p], S::missing) << p;
}

TEST_F(PieceCheckerTest, MultiThreadedEqualsSingleThreaded) {
  write_all();
  const char flipped = static_cast<char>(~stream_[17]);
  ASSERT_EQ(::pwrite(store_->file_fd(FileIndex(0)), &flipped, 1, 17), 1);
  ASSERT_EQ(::ftruncate(store_->file_fd(FileIndex(4)), 3 * kPiece), 0);
  CheckOptions one;
  one.threads = 1;
  CheckOptions many;
  many.threads = 8;
  const auto single = check(one);
  EXPECT_EQ(single[0], S::bad);
  EXPECT_EQ(single[11], S::missing);
  EXPECT_EQ(check(many), single);
  EXPECT_EQ(check(), single);  // one per core
}

TEST_F(PieceCheckerTest, OnlyChecksTheRequestedPiecesAndReportsProgress) {
  write_all();
  std::mutex m;
  std::vector<std::uint32_t> seen;
  CheckOptions options;
  options.threads = 4;
  options.only = {PieceIndex(9), PieceIndex(1), PieceIndex(1), PieceIndex(5), PieceIndex(400)};
  options.progress = [&](std::uint32_t done, std::uint32_t total) {
    std::lock_guard lock(m);
    EXPECT_EQ(total, 3u);
    seen.push_back(done);
  };
  auto states = check(options);
  for (std::uint32_t p = 0; p < 12; ++p) {
    EXPECT_EQ(states[p], (p == 1 || p == 5 || p == 9) ? S::good : S::missing) << p;
  }
  EXPECT_EQ(seen, (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST_F(PieceCheckerTest, CancelStopsEarly) {
  write_all();
  std::atomic<bool> cancel{false};
  CheckOptions options;
  options.threads = 1;
  options.cancel = &cancel;
  std::uint32_t calls = 0;
  options.progress = [&](std::uint32_t done, std::uint32_t) {
    calls = done;
    if (done == 3) cancel = true;
  };
  auto states = check(options);
  EXPECT_EQ(calls, 3u);
  EXPECT_EQ(std::count(states.begin(), states.end(), S::good), 3);
  EXPECT_EQ(states[11], S::missing);
}

TEST_F(PieceCheckerTest, PiecesWithoutHashAreBad) {
  write_all();
  hashes_.resize(10);
  auto states = check();
  EXPECT_EQ(states[9], S::good);
  EXPECT_EQ(states[10], S::bad);
  EXPECT_EQ(states[11], S::bad);
}

TEST_F(PieceCheckerTest, LargePiecesReadInChunks) {
  // 8 MiB pieces are read in several preads; all bytes must reach the hash in order.
  store_.reset();
  layout_ = FileLayout::create({entry("big", (8u << 20) * 2 + 12345)}, 8u << 20).value();
  stream_.assign(layout_.total_size(), '\0');
  for (std::size_t i = 0; i < stream_.size(); ++i)
    stream_[i] = static_cast<char>(i % 251);
  hashes_.clear();
  for (std::uint32_t p = 0; p < layout_.num_pieces(); ++p) {
    hashes_.push_back(sha1(std::string_view(stream_).substr(layout_.piece_offset(PieceIndex(p)),
                                                            layout_.piece_size(PieceIndex(p)))));
  }
  store_ = std::move(DataStore::open(root_ / "big", layout_).value());
  write_all();
  EXPECT_EQ(check(), std::vector<S>(3, S::good));
}

}  // namespace
}  // namespace torfs
