// A minimal PNG encoder (8-bit RGB, no interlace) on zlib, for `torfs status --png`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cache/result.hpp"

namespace torfs::tools {

// An RGB image, row-major, 3 bytes per pixel.
struct RgbImage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3

  RgbImage() = default;
  RgbImage(std::uint32_t w, std::uint32_t h, std::uint32_t rgb)
      : width(w), height(h), pixels(std::size_t{w} * h * 3) {
    fill(0, 0, w, h, rgb);
  }
  // Fills the rectangle clipped to the image; rgb is 0xRRGGBB.
  void fill(std::uint32_t x, std::uint32_t y, std::uint32_t w, std::uint32_t h, std::uint32_t rgb);
  std::uint32_t at(std::uint32_t x, std::uint32_t y) const;
};

// Largest image encode_png accepts (width * height); beyond it the caller must aggregate.
inline constexpr std::uint64_t kMaxPngPixels = 64ull << 20;

// The complete PNG file: signature, IHDR, one IDAT (zlib stream of filter-0 scanlines), IEND,
// each chunk with its CRC. Fails on an empty image, a pixel buffer of the wrong size, more
// than kMaxPngPixels pixels, or a zlib failure.
Result<std::string> encode_png(const RgbImage& image);

// encode_png, then writes the file (replacing it through a temporary in the same directory).
Result<void> write_png_file(const std::filesystem::path& path, const RgbImage& image);

}  // namespace torfs::tools
