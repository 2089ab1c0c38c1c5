#include "tools/status_render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "tools/progress.hpp"

namespace torfs::tools {
namespace {

constexpr const char* kBold = "\x1b[1m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kReset = "\x1b[0m";
constexpr std::uint32_t kPngMaxRows = 256;
constexpr std::uint32_t kPngTargetWidth = 512;
constexpr std::uint32_t kPngMaxCell = 16;
constexpr std::uint32_t kPngGap = 4;

// 0 = none, 1 = up to a third, 2 = up to two thirds, 3 = more but not all, 4 = all. The
// epsilon keeps exact thirds (3 of 9 pieces) on the lower level despite rounding.
int level(double fraction) {
  constexpr double kEps = 1e-9;
  if (fraction <= 0) return 0;
  if (fraction >= 1) return 4;
  if (fraction <= 1.0 / 3 + kEps) return 1;
  if (fraction <= 2.0 / 3 + kEps) return 2;
  return 3;
}

std::string percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%5.1f%%", 100.0 * std::clamp(fraction, 0.0, 1.0));
  return buf;
}

std::string rate(double bytes_per_second) {
  return format_bytes(static_cast<std::uint64_t>(std::max(0.0, bytes_per_second))) + "/s";
}

// Cuts `s` to at most `cells` bytes without splitting a UTF-8 sequence (one byte is taken as
// one cell: names with wide characters are cut early, never too late).
std::string fit(const std::string& s, int cells) {
  if (cells <= 0) return {};
  if (static_cast<int>(s.size()) <= cells) return s;
  std::size_t end = static_cast<std::size_t>(cells);
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
    --end;
  return s.substr(0, end);
}

// "  web seeds N (B)": web seeds fetching now and the bytes they sent this session; nothing for a
// torrent no web seed has served (most have none).
std::string web_seeds(const TorrentStatus& t) {
  if (t.web_seeds == 0 && t.web_seed_downloaded == 0) return {};
  return "  web seeds " + std::to_string(t.web_seeds) + " (" + format_bytes(t.web_seed_downloaded) +
         ")";
}

// Line 1: name, progress, amounts and ratio; line 2: rates and peers; line 3: transfers. On a
// terminal only the name is cut (no line wraps); a pipe gets everything whole.
void render_header(const TorrentStatus& t, const TextStyle& style, int width, std::string& out) {
  const bool u = style.terminal;
  char ratio[32] = "-";
  if (const auto r = t.ratio()) std::snprintf(ratio, sizeof ratio, "%.2f", *r);
  const std::string rest = "  " + percent(t.progress()) + "  " + format_bytes(t.have_bytes) +
                           " / " + format_bytes(t.total_bytes) + "  ratio " + ratio;
  if (u) {
    out += kBold + fit(t.name, width - static_cast<int>(rest.size())) + rest + kReset + "\n";
  } else {
    out += t.name + rest + "\n";
  }
  out += std::string(u ? "  ↓ " : "  down ") + rate(t.download_rate) + (u ? "  ↑ " : "  up ") +
         rate(t.upload_rate) + "  peers " + std::to_string(t.peers) + " (" +
         std::to_string(t.seeds) + " seeds)" + web_seeds(t) + "\n";
  out += "  session: " + format_bytes(t.downloaded) + " down, " + format_bytes(t.uploaded) +
         " up;  all time: " + format_bytes(t.total_downloaded) + " down, " +
         format_bytes(t.total_uploaded) + " up\n";
}

void render_torrent(const TorrentStatus& t, const TextStyle& style, std::string& out) {
  const bool u = style.terminal;
  const int width = std::max(style.width - 1, 20);
  render_header(t, style, width, out);
  constexpr int kBar = 20;
  for (const FileStatus& f : t.files) {
    const double fraction =
        f.size == 0 ? 1.0 : static_cast<double>(f.have_bytes) / static_cast<double>(f.size);
    std::string size = format_bytes(f.size);
    size.insert(0, size.size() < 10 ? 10 - size.size() : 0, ' ');
    const std::string head =
        "  " + progress_bar(fraction, kBar, u) + " " + percent(fraction) + " " + size + "  ";
    const int head_cells = 2 + kBar + 2 + 1 + 6 + 1 + 10 + 2;
    out += head + (u ? fit(f.path, width - head_cells) : f.path) + "\n";
  }
  out += "  pieces " + std::to_string(t.pieces_have) + " / " + std::to_string(t.pieces_total) +
         " (" + format_bytes(t.piece_length) + " each)\n";
  for (const std::string& row : piece_map_rows(t, width - 4, style.map_rows, u)) {
    out += u ? "  │" + std::string(kGreen) + row + kReset + "│\n" : "  |" + row + "|\n";
  }
}

}  // namespace

std::vector<double> piece_cells(const TorrentStatus& t, std::uint32_t cells) {
  const std::uint64_t n = t.pieces_total;
  if (n == 0) return {};
  cells = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(cells, 1, n));
  std::vector<double> out(cells);
  for (std::uint32_t c = 0; c < cells; ++c) {
    const std::uint64_t begin = c * n / cells, end = (c + 1) * n / cells;
    std::uint64_t have = 0;
    for (std::uint64_t p = begin; p < end; ++p)
      have += t.have_piece(static_cast<std::uint32_t>(p));
    out[c] = static_cast<double>(have) / static_cast<double>(end - begin);
  }
  return out;
}

std::vector<std::string> piece_map_rows(const TorrentStatus& t, int width, int max_rows,
                                        bool unicode) {
  static constexpr const char* kBlocks[] = {" ", "░", "▒", "▓", "█"};
  static constexpr char kPlain[] = ".:+*#";
  width = std::max(width, 1);
  max_rows = std::max(max_rows, 1);
  const std::vector<double> cells = piece_cells(
      t, static_cast<std::uint32_t>(std::min<std::int64_t>(
             std::int64_t{width} * max_rows, std::numeric_limits<std::uint32_t>::max())));
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i % static_cast<std::size_t>(width) == 0) rows.emplace_back();
    const int l = level(cells[i]);
    if (unicode) {
      rows.back() += kBlocks[l];
    } else {
      rows.back() += kPlain[l];
    }
  }
  return rows;
}

std::string progress_bar(double fraction, int width, bool unicode) {
  const int filled =
      static_cast<int>(std::floor(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(width)));
  std::string bar = "[";
  for (int i = 0; i < width; ++i) {
    if (unicode) {
      bar += i < filled ? "█" : "░";
    } else {
      bar += i < filled ? '#' : '-';
    }
  }
  return bar + "]";
}

std::string render_status_text(const MountStatus& status, const TextStyle& style) {
  std::string out = status.mount.mountpoint + "  (pid " + std::to_string(status.mount.pid) +
                    ", port " + std::to_string(status.mount.listen_port) + ", up " +
                    format_duration(static_cast<double>(status.now - status.mount.started)) + ", " +
                    std::to_string(status.torrents.size()) + " torrent" +
                    (status.torrents.size() == 1 ? "" : "s") + ")\n";
  for (const TorrentStatus& t : status.torrents)
    render_torrent(t, style, out);
  return out;
}

Result<RgbImage> piece_map_image(const std::vector<TorrentStatus>& torrents) {
  struct Block {
    std::vector<double> cells;
    std::uint32_t cols, rows, px;
  };
  std::vector<Block> blocks;
  std::uint32_t width = 0, height = 0;
  for (const TorrentStatus& t : torrents) {
    if (t.pieces_total == 0) continue;
    Block b;
    b.cells = piece_cells(t, kPngColumns * kPngMaxRows);
    const auto n = static_cast<std::uint32_t>(b.cells.size());
    // A square grid (a one-row strip of a small torrent is hard to see), at most kPngColumns wide.
    b.cols = std::min(kPngColumns, static_cast<std::uint32_t>(std::ceil(std::sqrt(double(n)))));
    b.rows = (n + b.cols - 1) / b.cols;
    b.px = std::clamp(kPngTargetWidth / b.cols, 1u, kPngMaxCell);
    width = std::max(width, b.cols * b.px);
    height += (height ? kPngGap : 0) + b.rows * b.px;
    blocks.push_back(std::move(b));
  }
  if (blocks.empty()) return RgbImage(1, 1, kPngBackground);
  const auto mix = [](double f) {
    std::uint32_t rgb = 0;
    for (int shift = 16; shift >= 0; shift -= 8) {
      const double a = kPngMissing >> shift & 0xff, b = kPngHave >> shift & 0xff;
      rgb |= static_cast<std::uint32_t>(std::lround(a + (b - a) * f)) << shift;
    }
    return rgb;
  };
  if (std::uint64_t{width} * height > kMaxPngPixels) {
    return make_error(std::errc::value_too_large,
                      "the piece map of " + std::to_string(blocks.size()) +
                          " torrents is too large for one picture (" + std::to_string(width) + "x" +
                          std::to_string(height) + " pixels)");
  }
  RgbImage image(width, height, kPngBackground);
  std::uint32_t top = 0;
  for (const Block& b : blocks) {
    for (std::size_t i = 0; i < b.cells.size(); ++i) {
      const auto col = static_cast<std::uint32_t>(i % b.cols);
      const auto row = static_cast<std::uint32_t>(i / b.cols);
      image.fill(col * b.px, top + row * b.px, b.px, b.px, mix(std::clamp(b.cells[i], 0.0, 1.0)));
    }
    top += b.rows * b.px + kPngGap;
  }
  return image;
}

}  // namespace torfs::tools
