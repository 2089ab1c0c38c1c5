#include "cache/file_layout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <limits>

#include "tests/common/test_util.hpp"

namespace torfs {
namespace {

constexpr std::uint64_t GiB = 1ull << 30;

FileLayout make(std::vector<FileEntry> files, std::uint32_t piece_length) {
  auto layout = FileLayout::create(std::move(files), piece_length);
  EXPECT_TRUE(layout.ok()) << (layout ? "" : layout.error().message);
  return std::move(layout).value();
}

FileEntry file(std::string path, std::uint64_t size, bool pad = false) {
  return testing::entry(std::move(path), size, pad);
}

std::vector<FileSlice> slices(std::initializer_list<std::array<std::uint64_t, 3>> list) {
  std::vector<FileSlice> out;
  for (auto [f, off, len] : list) {
    out.push_back(FileSlice{FileIndex(static_cast<std::uint32_t>(f)), off, len});
  }
  return out;
}

MATCHER_P(SlicesAre, expected, "") {
  if (arg.size() != expected.size()) return false;
  for (std::size_t i = 0; i < arg.size(); ++i) {
    if (arg[i].file != expected[i].file || arg[i].file_offset != expected[i].file_offset ||
        arg[i].length != expected[i].length) {
      return false;
    }
  }
  return true;
}

TEST(FileLayout, ComputesOffsetsSizesAndPieceCount) {
  auto l = make({file("t/a", 10), file("t/b", 0), file("t/c", 25)}, 16);
  EXPECT_EQ(l.total_size(), 35u);
  EXPECT_EQ(l.num_pieces(), 3u);
  EXPECT_EQ(l.num_files(), 3u);
  EXPECT_EQ(l.file(FileIndex(1)).offset, 10u);
  EXPECT_EQ(l.file(FileIndex(2)).offset, 10u);
  EXPECT_EQ(l.piece_size(PieceIndex(0)), 16u);
  EXPECT_EQ(l.piece_size(PieceIndex(2)), 3u);  // odd last piece
  EXPECT_EQ(l.piece_size(PieceIndex(3)), 0u);  // past the end
  EXPECT_EQ(l.piece_offset(PieceIndex(2)), 32u);
}

TEST(FileLayout, ExactMultipleHasFullLastPiece) {
  auto l = make({file("a", 64)}, 16);
  EXPECT_EQ(l.num_pieces(), 4u);
  EXPECT_EQ(l.piece_size(PieceIndex(3)), 16u);
}

TEST(FileLayout, RejectsZeroPieceLengthAndOverflow) {
  EXPECT_FALSE(FileLayout::create({file("a", 1)}, 0).ok());
  auto overflow = FileLayout::create(
      {file("a", std::numeric_limits<std::uint64_t>::max()), file("b", 1)}, 1 << 20);
  ASSERT_FALSE(overflow.ok());
  EXPECT_NE(overflow.error().message.find("'b'"), std::string::npos);
  // 2^32 pieces of 16 KiB do not fit in a 32-bit piece index.
  EXPECT_FALSE(FileLayout::create({file("a", (1ull << 32) * 16384)}, 16384).ok());
  EXPECT_TRUE(FileLayout::create({file("a", ((1ull << 32) - 1) * 16384)}, 16384).ok());
}

TEST(FileLayout, EmptyTorrent) {
  auto l = make({file("a", 0)}, 16);
  EXPECT_EQ(l.total_size(), 0u);
  EXPECT_EQ(l.num_pieces(), 0u);
  EXPECT_TRUE(l.map_range(0, 10).empty());
  EXPECT_TRUE(l.pieces_for_file(FileIndex(0)).empty());
}

TEST(FileLayout, MapRangeCrossesFileBoundariesAndSkipsZeroLengthFiles) {
  auto l = make({file("t/a", 10), file("t/empty", 0), file("t/b", 5), file("t/c", 20)}, 16);
  EXPECT_THAT(l.map_range(8, 10), SlicesAre(slices({{0, 8, 2}, {2, 0, 5}, {3, 0, 3}})));
  EXPECT_THAT(l.map_range(0, 10), SlicesAre(slices({{0, 0, 10}})));
  EXPECT_THAT(l.map_range(10, 1), SlicesAre(slices({{2, 0, 1}})));
  // Clipped at the end of the stream; nothing past it.
  EXPECT_THAT(l.map_range(30, 100), SlicesAre(slices({{3, 15, 5}})));
  EXPECT_TRUE(l.map_range(35, 1).empty());
  EXPECT_TRUE(l.map_range(3, 0).empty());
}

TEST(FileLayout, ZeroLengthFilesAtStartAndEnd) {
  auto l = make({file("t/z0", 0), file("t/a", 4), file("t/z1", 0)}, 16);
  EXPECT_EQ(l.file_at(0), FileIndex(1));
  EXPECT_EQ(l.file_at(3), FileIndex(1));
  EXPECT_THAT(l.map_range(0, 4), SlicesAre(slices({{1, 0, 4}})));
  EXPECT_TRUE(l.pieces_for_file(FileIndex(0)).empty());
  EXPECT_TRUE(l.pieces_for_file(FileIndex(2)).empty());
}

TEST(FileLayout, PadFilesAreIncludedInMaps) {
  auto l = make({file("t/a", 10), file(".pad/6", 6, true), file("t/b", 16)}, 16);
  EXPECT_THAT(l.map_block(PieceIndex(0), 0, 16), SlicesAre(slices({{0, 0, 10}, {1, 0, 6}})));
  EXPECT_THAT(l.map_block(PieceIndex(1), 4, 8), SlicesAre(slices({{2, 4, 8}})));
  EXPECT_EQ(l.pieces_for_file(FileIndex(2)).begin, PieceIndex(1));
  EXPECT_EQ(l.pieces_for_file(FileIndex(2)).size(), 1u);
}

TEST(FileLayout, PiecesForRangeAndFile) {
  auto l = make({file("t/a", 10), file("t/b", 30)}, 16);
  auto r = l.pieces_for_range(15, 2);
  EXPECT_EQ(r.begin, PieceIndex(0));
  EXPECT_EQ(r.end, PieceIndex(2));
  r = l.pieces_for_range(16, 16);
  EXPECT_EQ(r.begin, PieceIndex(1));
  EXPECT_EQ(r.end, PieceIndex(2));
  EXPECT_TRUE(l.pieces_for_range(5, 0).empty());
  EXPECT_TRUE(l.pieces_for_range(40, 5).empty());
  r = l.pieces_for_range(39, 1000);  // clipped to the last piece
  EXPECT_EQ(r.begin, PieceIndex(2));
  EXPECT_EQ(r.end, PieceIndex(3));
  r = l.pieces_for_file(FileIndex(0));
  EXPECT_EQ(r.begin, PieceIndex(0));
  EXPECT_EQ(r.end, PieceIndex(1));
  r = l.pieces_for_file(FileIndex(1));
  EXPECT_EQ(r.begin, PieceIndex(0));
  EXPECT_EQ(r.end, PieceIndex(3));
}

TEST(FileLayout, OffsetsBeyondFourGiB) {
  auto l = make({file("t/small", 100), file("t/big", 5 * GiB), file("t/tail", 7)}, 1 << 20);
  EXPECT_EQ(l.total_size(), 5 * GiB + 107);
  EXPECT_EQ(l.num_pieces(), 5 * 1024u + 1);
  const std::uint64_t off = 4 * GiB + 12345;
  EXPECT_THAT(l.map_range(off, 10), SlicesAre(slices({{1, off - 100, 10}})));
  EXPECT_THAT(l.map_range(5 * GiB + 95, 10), SlicesAre(slices({{1, 5 * GiB - 5, 5}, {2, 0, 5}})));
  EXPECT_EQ(l.file_at(5 * GiB + 100), FileIndex(2));
  const auto r = l.pieces_for_range(off, 1);
  EXPECT_EQ(r.begin, PieceIndex(static_cast<std::uint32_t>(off >> 20)));
  EXPECT_EQ(l.piece_offset(PieceIndex(5 * 1024)), 5 * GiB);
  EXPECT_EQ(l.piece_size(PieceIndex(5 * 1024)), 107u);
  EXPECT_THAT(l.map_block(PieceIndex(5 * 1024), 0, 1 << 20),
              SlicesAre(slices({{1, 5 * GiB - 100, 100}, {2, 0, 7}})));
}

}  // namespace
}  // namespace torfs
