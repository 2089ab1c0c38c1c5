#include "tools/png_writer.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace torfs::tools {
namespace {

void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(v >> shift & 0xff));
}

// length, type, data, CRC over type + data (PNG spec 5.3).
void chunk(std::string& out, const char type[4], const std::string& data) {
  put32(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t start = out.size();
  out.append(type, 4);
  out += data;
  const auto* bytes = reinterpret_cast<const Bytef*>(out.data() + start);
  put32(out, static_cast<std::uint32_t>(crc32(0L, bytes, static_cast<uInt>(out.size() - start))));
}

std::string io_message(const std::filesystem::path& path, const char* what) {
  return std::string("cannot ") + what + " " + path.string() + ": " + std::strerror(errno);
}

}  // namespace

void RgbImage::fill(std::uint32_t x, std::uint32_t y, std::uint32_t w, std::uint32_t h,
                    std::uint32_t rgb) {
  const std::uint32_t x_end = std::min<std::uint64_t>(std::uint64_t{x} + w, width);
  const std::uint32_t y_end = std::min<std::uint64_t>(std::uint64_t{y} + h, height);
  for (std::uint32_t row = y; row < y_end; ++row) {
    for (std::uint32_t col = x; col < x_end; ++col) {
      std::uint8_t* p = &pixels[(std::size_t{row} * width + col) * 3];
      p[0] = static_cast<std::uint8_t>(rgb >> 16);
      p[1] = static_cast<std::uint8_t>(rgb >> 8);
      p[2] = static_cast<std::uint8_t>(rgb);
    }
  }
}

std::uint32_t RgbImage::at(std::uint32_t x, std::uint32_t y) const {
  const std::uint8_t* p = &pixels[(std::size_t{y} * width + x) * 3];
  return std::uint32_t{p[0]} << 16 | std::uint32_t{p[1]} << 8 | p[2];
}

Result<std::string> encode_png(const RgbImage& image) {
  const std::uint64_t count = std::uint64_t{image.width} * image.height;
  if (count == 0) return make_error(std::errc::invalid_argument, "PNG: empty image");
  if (count > kMaxPngPixels) {
    return make_error(std::errc::value_too_large,
                      "PNG: " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                          " is over the limit of " + std::to_string(kMaxPngPixels) + " pixels");
  }
  if (image.pixels.size() != count * 3) {
    return make_error(std::errc::invalid_argument, "PNG: pixel buffer has the wrong size");
  }
  // Scanlines, each preceded by filter type 0 (None).
  const std::size_t row_bytes = std::size_t{image.width} * 3;
  std::string raw;
  raw.reserve((row_bytes + 1) * image.height);
  for (std::uint32_t y = 0; y < image.height; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(&image.pixels[y * row_bytes]), row_bytes);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                           reinterpret_cast<const Bytef*>(raw.data()),
                           static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION);
  if (rc != Z_OK) {
    return make_error(std::errc::io_error,
                      "PNG: zlib compress2 failed (" + std::to_string(rc) + ")");
  }
  packed.resize(packed_size);

  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put32(ihdr, image.width);
  put32(ihdr, image.height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // depth 8, RGB, deflate, adaptive, none
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", packed);
  chunk(out, "IEND", "");
  return out;
}

Result<void> write_png_file(const std::filesystem::path& path, const RgbImage& image) {
  auto png = encode_png(image);
  if (!png) return std::move(png).take_error();
  const std::filesystem::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return make_errno_error(errno, io_message(tmp, "create"));
  std::size_t done = 0;
  while (done < png->size()) {
    const ssize_t n = ::write(fd, png->data() + done, png->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      Error e = make_errno_error(err, io_message(tmp, "write"));
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    Error e = make_errno_error(err, io_message(path, "write"));
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

}  // namespace torfs::tools
