// Renders a status document (tools/status_report.hpp) for people: text for a terminal or a
// pipe, and the piece map as a picture. Pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/png_writer.hpp"
#include "tools/status_report.hpp"

namespace torfs::tools {

struct TextStyle {
  int width = 80;         // columns available; lines never exceed width - 1 cells
  bool terminal = false;  // Unicode blocks and ANSI colours; otherwise plain ASCII
  int map_rows = 4;       // at most this many rows of piece map per torrent
};

// Fraction of pieces held in each of `cells` equal consecutive slices of the torrent's pieces
// (cell i covers pieces [i*n/cells, (i+1)*n/cells)). cells is clamped to [1, pieces_total];
// empty for a torrent without pieces.
std::vector<double> piece_cells(const TorrentStatus& t, std::uint32_t cells);

// The piece map as text rows (no trailing newline), each at most `width` cells: one character
// per cell, by the fraction held: none, <=1/3, <=2/3, <1, all. Terminal: ' ░▒▓█'; plain: '.:+*#'.
std::vector<std::string> piece_map_rows(const TorrentStatus& t, int width, int max_rows,
                                        bool unicode);

// "[#####-----]" (plain) or "[█████░░░░░]" (terminal) with `width` cells inside the brackets.
std::string progress_bar(double fraction, int width, bool unicode);

// The whole mount: a line for the mount, then per torrent a header (name, progress, rates,
// peers, ratio), a bar per file and the piece map. Ends with a newline.
std::string render_status_text(const MountStatus& status, const TextStyle& style);

// Colours of the picture (0xRRGGBB).
inline constexpr std::uint32_t kPngHave = 0x22c55e;
inline constexpr std::uint32_t kPngMissing = 0x1f2937;
inline constexpr std::uint32_t kPngBackground = 0x000000;

// The piece map picture: one block per torrent, top to bottom, separated by background rows.
// Each block is a square grid of cells in row-major piece order, at most kPngColumns cells wide
// and high; a cell stands for one piece (or an equal slice of pieces in torrents too large to
// draw one by one) and is green (have), dark (missing) or in between by the fraction held.
// Cells are square, larger for small torrents. A document without pieces gives a 1x1
// background image; one larger than kMaxPngPixels (thousands of torrents) is an error.
inline constexpr std::uint32_t kPngColumns = 256;
Result<RgbImage> piece_map_image(const std::vector<TorrentStatus>& torrents);

}  // namespace torfs::tools
