// DataStore::punch (cache eviction): frees whole filesystem blocks inside the range only, keeps
// file sizes and every byte outside the range, and handles ranges spanning files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cache/data_store.hpp"
#include "tests/common/test_util.hpp"

namespace torfs {
namespace {

namespace fs = std::filesystem;

using testing::entry;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(1 + (i * 131 + seed * 7919) % 251);  // never zero
  return s;
}

class DataStorePunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::make_temp_dir("torfs-punch");
    ASSERT_FALSE(base_.empty());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(base_);
  }
  void open(std::vector<FileEntry> files, std::uint32_t piece_length, DataStoreOptions opt = {}) {
    layout_ = FileLayout::create(std::move(files), piece_length).value();
    auto s = DataStore::open(base_ / "data", layout_, std::move(opt));
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  std::string read(std::uint64_t offset, std::size_t n) {
    std::string out(n, '?');
    auto r = store_->read(offset, out);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    return out;
  }
  std::uint64_t allocated(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat((base_ / "data" / path).c_str(), &st), 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  std::uint64_t size_of(const std::string& path) { return fs::file_size(base_ / "data" / path); }

  fs::path base_;
  FileLayout layout_;
  std::unique_ptr<DataStore> store_;
};

TEST_F(DataStorePunchTest, AlignedPieceFreesItsBlocksAndReadsAsZeros) {
  constexpr std::uint32_t kPiece = 256 * 1024;
  open({entry("big.bin", 4 * kPiece)}, kPiece);
  const std::string data = pattern(4 * kPiece, 1);
  ASSERT_TRUE(store_->write(0, data).ok());
  ASSERT_TRUE(store_->sync().ok());
  const std::uint64_t before = allocated("big.bin");
  ASSERT_GE(before, 4ull * kPiece);

  auto punched = store_->punch(kPiece, kPiece);
  ASSERT_TRUE(punched.ok()) << punched.error().message;
  EXPECT_EQ(*punched, kPiece);
  EXPECT_EQ(allocated("big.bin"), before - kPiece);
  EXPECT_EQ(size_of("big.bin"), 4ull * kPiece);
  EXPECT_EQ(read(kPiece, kPiece), std::string(kPiece, '\0'));
  EXPECT_EQ(read(0, kPiece), data.substr(0, kPiece));
  EXPECT_EQ(read(2 * kPiece, 2 * kPiece), data.substr(2 * kPiece));

  // The range can be written again (a re-downloaded piece).
  ASSERT_TRUE(store_->write(kPiece, data.substr(kPiece, kPiece)).ok());
  EXPECT_EQ(read(0, 4 * kPiece), data);
}

TEST_F(DataStorePunchTest, UnalignedRangeAcrossFilesKeepsNeighbourBytes) {
  // a: 12388 bytes, pad of 60, b: 20480 bytes; 8 KiB pieces. Piece 1 = stream [8192, 16384):
  // a[8192, 12388), the pad, b[0, 3936).
  open({entry("a", 12388), entry(".pad/60", 60, true), entry("b", 20480)}, 8192);
  const std::string data = pattern(layout_.total_size(), 2);
  ASSERT_TRUE(store_->write(0, data).ok());
  ASSERT_TRUE(store_->sync().ok());
  const std::uint64_t a_before = allocated("a"), b_before = allocated("b");

  auto punched = store_->punch(8192, 8192);
  ASSERT_TRUE(punched.ok()) << punched.error().message;
  // Only a[8192, 12288) is a whole block inside the range; b's part is shorter than a block.
  EXPECT_EQ(*punched, 4096u);
  EXPECT_EQ(allocated("a"), a_before - 4096);
  EXPECT_EQ(allocated("b"), b_before);
  EXPECT_EQ(size_of("a"), 12388u);
  const std::string after = read(0, layout_.total_size());
  EXPECT_EQ(after.substr(0, 8192), data.substr(0, 8192));
  EXPECT_EQ(after.substr(8192, 4096), std::string(4096, '\0'));
  // Edge block bytes of the evicted piece stay, and so does everything after the range.
  EXPECT_EQ(after.substr(12288), data.substr(12288).replace(100, 60, 60, '\0'));
}

TEST_F(DataStorePunchTest, TailPieceAndAbsentFiles) {
  open({entry("x", 10000), entry("y", 9000)}, 8192);
  // Only y is written: x does not exist, punching over it is a no-op.
  const std::string y = pattern(9000, 3);
  ASSERT_TRUE(store_->write(10000, y).ok());
  auto punched = store_->punch(0, 16384);  // pieces 0 and 1: x and y[0, 6384)
  ASSERT_TRUE(punched.ok()) << punched.error().message;
  EXPECT_EQ(*punched, 4096u);  // y[0, 4096)
  EXPECT_FALSE(fs::exists(base_ / "data" / "x"));
  // Tail piece 2 = stream [16384, 19000) = y[6384, 9000): no whole 4 KiB block lies inside
  // (the file ends inside its last block), so nothing is punched and nothing is lost.
  auto tail = store_->punch(16384, layout_.total_size() - 16384);
  ASSERT_TRUE(tail.ok()) << tail.error().message;
  EXPECT_EQ(*tail, 0u);
  EXPECT_EQ(read(10000 + 4096, 9000 - 4096), y.substr(4096));
}

TEST_F(DataStorePunchTest, RejectsReadOnlyAndOutOfRange) {
  open({entry("f", 4096)}, 4096);
  ASSERT_TRUE(store_->write(0, pattern(4096, 4)).ok());
  auto past = store_->punch(1, 4096);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, std::errc::invalid_argument);
  store_.reset();
  DataStoreOptions ro;
  ro.read_only = true;
  open({entry("f", 4096)}, 4096, ro);
  auto r = store_->punch(0, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::read_only_file_system);
  EXPECT_EQ(read(0, 4096), pattern(4096, 4));
}

TEST_F(DataStorePunchTest, BlockSizeIsTheFilesStBlksize) {
  open({entry("f", 100000), entry("later", 5000)}, 16384);
  struct stat root {};
  ASSERT_EQ(::stat((base_ / "data").c_str(), &root), 0);
  EXPECT_EQ(store_->block_size(FileIndex(1)), static_cast<std::uint64_t>(root.st_blksize));
  ASSERT_TRUE(store_->write(0, pattern(16384, 5)).ok());
  struct stat st {};
  ASSERT_EQ(::stat((base_ / "data" / "f").c_str(), &st), 0);
  EXPECT_EQ(store_->block_size(FileIndex(0)), static_cast<std::uint64_t>(st.st_blksize));
}

TEST_F(DataStorePunchTest, PunchFileIsExactFreesWholeBlocksAndTheTailBlock) {
  open({entry("f", 100000)}, 16384);
  const std::string data = pattern(100000, 6);
  ASSERT_TRUE(store_->write(0, data).ok());
  ASSERT_TRUE(store_->sync().ok());
  const std::uint64_t block = store_->block_size(FileIndex(0));
  ASSERT_GE(block, 512u);
  ASSERT_LT(3 * block, 100000u);
  const std::uint64_t before = allocated("f");

  // [100, 3 * block): the partial first block is zeroed (and stays allocated), blocks 1 and 2
  // are freed; every byte outside the range stays.
  auto punched = store_->punch_file(FileIndex(0), 100, 3 * block - 100);
  ASSERT_TRUE(punched.ok()) << punched.error().message;
  EXPECT_EQ(*punched, 3 * block - 100);
  EXPECT_EQ(allocated("f"), before - 2 * block);
  std::string expected = data;
  expected.replace(100, 3 * block - 100, 3 * block - 100, '\0');
  EXPECT_EQ(read(0, 100000), expected);

  // The file ends inside its last block: punching up to the block's end frees it, size kept.
  const std::uint64_t tail = 100000 / block * block;
  ASSERT_NE(tail, 100000u);
  ASSERT_TRUE(store_->punch_file(FileIndex(0), tail, block).ok());
  EXPECT_EQ(allocated("f"), before - 3 * block);
  EXPECT_EQ(size_of("f"), 100000u);
  expected.replace(tail, 100000 - tail, 100000 - tail, '\0');
  EXPECT_EQ(read(0, 100000), expected);
}

TEST_F(DataStorePunchTest, PunchFileSkipsPadAndAbsentFilesAndRejectsBadRanges) {
  open({entry("a", 5000), entry(".pad/3192", 3192, true), entry("b", 5000)}, 8192);
  EXPECT_EQ(store_->punch_file(FileIndex(1), 0, 3192).value(), 0u);  // pad: never on disk
  EXPECT_EQ(store_->punch_file(FileIndex(2), 0, 5000).value(), 0u);  // never written
  EXPECT_FALSE(fs::exists(base_ / "data" / "b"));
  auto past = store_->punch_file(FileIndex(0), 5001, 10);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, std::errc::invalid_argument);
  EXPECT_NE(past.error().message.find("/a"), std::string::npos) << past.error().message;
  store_.reset();
  DataStoreOptions ro;
  ro.read_only = true;
  open({entry("a", 5000), entry(".pad/3192", 3192, true), entry("b", 5000)}, 8192, ro);
  auto r = store_->punch_file(FileIndex(0), 0, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::read_only_file_system);
}

}  // namespace
}  // namespace torfs
