#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tools/png_writer.hpp"
#include "tools/status_render.hpp"

namespace torfs::tools {
namespace {

std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}

struct Chunk {
  std::string type;
  std::string data;
};

// Splits a PNG into chunks, checking the signature and every CRC.
std::vector<Chunk> read_chunks(const std::string& png) {
  std::vector<Chunk> chunks;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  for (std::size_t at = 8; at < png.size();) {
    const std::uint32_t len = be32(png, at);
    EXPECT_LE(at + 12 + len, png.size());
    Chunk c{png.substr(at + 4, 4), png.substr(at + 8, len)};
    const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + at + 4), len + 4);
    EXPECT_EQ(be32(png, at + 8 + len), crc) << "CRC of " << c.type;
    chunks.push_back(std::move(c));
    at += 12 + len;
  }
  return chunks;
}

// Decodes what encode_png writes (RGB8, filter 0) back into an image.
RgbImage decode(const std::string& png) {
  const auto chunks = read_chunks(png);
  EXPECT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].type, "IHDR");
  EXPECT_EQ(chunks[1].type, "IDAT");
  EXPECT_EQ(chunks[2].type, "IEND");
  RgbImage image;
  image.width = be32(chunks[0].data, 0);
  image.height = be32(chunks[0].data, 4);
  EXPECT_EQ(chunks[0].data.substr(8), std::string("\x08\x02\x00\x00\x00", 5));
  const std::size_t row = std::size_t{image.width} * 3 + 1;
  std::string raw(row * image.height, '\0');
  uLongf raw_size = raw.size();
  EXPECT_EQ(
      uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                 reinterpret_cast<const Bytef*>(chunks[1].data.data()), chunks[1].data.size()),
      Z_OK);
  EXPECT_EQ(raw_size, raw.size());
  for (std::uint32_t y = 0; y < image.height; ++y) {
    EXPECT_EQ(raw[y * row], '\0') << "filter type of row " << y;
    image.pixels.insert(image.pixels.end(), raw.begin() + y * row + 1, raw.begin() + (y + 1) * row);
  }
  return image;
}

TEST(PngWriter, EncodesPixelsExactly) {
  RgbImage image(5, 3, 0x102030);
  image.fill(1, 1, 2, 1, 0xff0080);
  image.fill(4, 2, 10, 10, 0x00ff00);  // clipped
  auto png = encode_png(image);
  ASSERT_TRUE(png) << png.error().message;
  const RgbImage back = decode(*png);
  EXPECT_EQ(back.width, 5u);
  EXPECT_EQ(back.height, 3u);
  EXPECT_EQ(back.pixels, image.pixels);
  EXPECT_EQ(back.at(0, 0), 0x102030u);
  EXPECT_EQ(back.at(2, 1), 0xff0080u);
  EXPECT_EQ(back.at(4, 2), 0x00ff00u);
}

TEST(PngWriter, RefusesEmptyOrInconsistentImages) {
  EXPECT_FALSE(encode_png(RgbImage{}));
  RgbImage bad(2, 2, 0);
  bad.pixels.pop_back();
  EXPECT_FALSE(encode_png(bad));
  RgbImage huge;
  huge.width = 1u << 16;
  huge.height = 1u << 16;
  auto r = encode_png(huge);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("limit"), std::string::npos);
}

TEST(PngWriter, WritesTheFileAndReportsErrors) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("torfs-png-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "map.png";
  ASSERT_TRUE(write_png_file(path, RgbImage(4, 4, 0x22c55e)));
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(decode(ss.str()).at(3, 3), 0x22c55eu);
  auto r = write_png_file(dir / "missing" / "map.png", RgbImage(1, 1, 0));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing"), std::string::npos) << r.error().message;
  std::filesystem::remove_all(dir);
}

TorrentStatus torrent_with(std::uint32_t pieces, std::vector<std::uint32_t> have) {
  TorrentStatus t;
  t.pieces_total = pieces;
  t.bitfield.assign((pieces + 7) / 8, 0);
  for (std::uint32_t p : have)
    t.bitfield[p / 8] |= static_cast<std::uint8_t>(0x80u >> (p % 8));
  t.pieces_have = static_cast<std::uint32_t>(have.size());
  return t;
}

TEST(PieceMapImage, OneCellPerPieceInASquareGrid) {
  auto image = piece_map_image({torrent_with(10, {0, 3, 9})});
  ASSERT_TRUE(image) << image.error().message;
  // 10 cells of 16 px in a 4-wide grid: 3 rows.
  EXPECT_EQ(image->width, 64u);
  EXPECT_EQ(image->height, 48u);
  EXPECT_EQ(image->at(0, 0), kPngHave);
  EXPECT_EQ(image->at(15, 15), kPngHave);
  EXPECT_EQ(image->at(16, 0), kPngMissing);
  EXPECT_EQ(image->at(3 * 16 + 5, 7), kPngHave);
  EXPECT_EQ(image->at(0, 32), kPngMissing) << "piece 8";
  EXPECT_EQ(image->at(16, 32), kPngHave) << "piece 9";
  EXPECT_EQ(image->at(31, 47), kPngHave);
  EXPECT_EQ(image->at(32, 32), kPngBackground) << "past the last piece";
  auto png = encode_png(*image);
  ASSERT_TRUE(png);
  EXPECT_EQ(decode(*png).pixels, image->pixels);
}

TEST(PieceMapImage, StacksTorrentsWithAGap) {
  // 300 pieces: 18 columns x 17 rows of 16 px; then a 1-piece torrent below a 4 px gap.
  auto image = piece_map_image({torrent_with(300, {299}), torrent_with(1, {0})});
  ASSERT_TRUE(image);
  EXPECT_EQ(image->width, 18u * 16);
  EXPECT_EQ(image->height, 17u * 16 + 4 + 16);
  EXPECT_EQ(image->at(0, 0), kPngMissing);
  EXPECT_EQ(image->at(11 * 16, 16 * 16), kPngHave) << "piece 299: row 16, column 11";
  EXPECT_EQ(image->at(17 * 16, 16 * 16), kPngBackground) << "past the last cell";
  EXPECT_EQ(image->at(0, 17 * 16 + 1), kPngBackground) << "the gap";
  EXPECT_EQ(image->at(0, 17 * 16 + 4), kPngHave);
  EXPECT_EQ(image->at(16, 17 * 16 + 4), kPngBackground);
}

TEST(PieceMapImage, AggregatesHugeTorrents) {
  std::vector<std::uint32_t> have;
  for (std::uint32_t p = 0; p < 200'000; p += 2)
    have.push_back(p);
  auto image = piece_map_image({torrent_with(200'000, have)});
  ASSERT_TRUE(image);
  EXPECT_EQ(image->width, 512u) << "256 columns of 2 px";
  EXPECT_EQ(image->height, 512u) << "at most 256 rows";
  const std::uint32_t c = image->at(0, 0);
  EXPECT_NE(c, kPngHave);
  EXPECT_NE(c, kPngMissing) << "half-held cells are in between";
  EXPECT_EQ(piece_map_image({})->width, 1u);
}

}  // namespace
}  // namespace torfs::tools
