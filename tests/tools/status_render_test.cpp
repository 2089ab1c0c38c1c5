#include "tools/status_render.hpp"

#include <gtest/gtest.h>

namespace torfs::tools {
namespace {

TorrentStatus torrent(std::uint32_t pieces, std::vector<std::uint32_t> have) {
  TorrentStatus t;
  t.name = "movie";
  t.pieces_total = pieces;
  t.piece_length = 1 << 18;
  t.total_bytes = std::uint64_t{pieces} << 18;
  t.bitfield.assign((pieces + 7) / 8, 0);
  for (std::uint32_t p : have)
    t.bitfield[p / 8] |= static_cast<std::uint8_t>(0x80u >> (p % 8));
  t.pieces_have = static_cast<std::uint32_t>(have.size());
  t.have_bytes = std::uint64_t{t.pieces_have} << 18;
  return t;
}

TEST(PieceCells, EqualSlicesWithFractions) {
  const TorrentStatus t = torrent(8, {0, 1, 2, 3, 4});
  EXPECT_EQ(piece_cells(t, 4), (std::vector<double>{1, 1, 0.5, 0}));
  EXPECT_EQ(piece_cells(t, 100).size(), 8u) << "never more cells than pieces";
  EXPECT_EQ(piece_cells(t, 0).size(), 1u);
  EXPECT_TRUE(piece_cells(torrent(0, {}), 10).empty());
}

TEST(PieceMapRows, PlainAndUnicodeLevels) {
  // 12 pieces in 4 cells of 3: none, one third, two thirds, all.
  const TorrentStatus t = torrent(12, {3, 6, 7, 9, 10, 11});
  EXPECT_EQ(piece_map_rows(t, 4, 1, false), (std::vector<std::string>{".:+#"}));
  EXPECT_EQ(piece_map_rows(t, 4, 1, true), (std::vector<std::string>{" ░▒█"}));
  EXPECT_EQ(piece_map_rows(t, 5, 3, false), (std::vector<std::string>{"...#.", ".##.#", "##"}));
  // 4 pieces in 1 cell holding 3: more than two thirds.
  EXPECT_EQ(piece_map_rows(torrent(4, {0, 1, 2}), 1, 1, false), (std::vector<std::string>{"*"}));
}

TEST(ProgressBar, FillsProportionally) {
  EXPECT_EQ(progress_bar(0.5, 10, false), "[#####-----]");
  EXPECT_EQ(progress_bar(1.5, 4, false), "[####]");
  EXPECT_EQ(progress_bar(0.25, 4, true), "[█░░░]");
}

TEST(RenderStatusText, WebSeedsShowOnlyWhenTheyServedTheTorrent) {
  MountStatus s;
  s.mount = MountInfo{"/mnt/t", 7, 6881, 1000};
  s.now = 1065;
  TorrentStatus t = torrent(4, {0});
  t.peers = 0;
  s.torrents = {t};
  TextStyle style;
  EXPECT_EQ(render_status_text(s, style).find("web seed"), std::string::npos);
  t.web_seeds = 1;
  t.web_seed_downloaded = 3 << 20;
  s.torrents = {t};
  EXPECT_NE(render_status_text(s, style).find("peers 0 (0 seeds)  web seeds 1 (3.00 MiB)\n"),
            std::string::npos)
      << render_status_text(s, style);
  t.web_seeds = 0;  // done fetching: what they sent still shows
  s.torrents = {t};
  EXPECT_NE(render_status_text(s, style).find("web seeds 0 (3.00 MiB)"), std::string::npos);
}

TEST(RenderStatusText, PlainTextHasNoEscapesAndShowsEverything) {
  MountStatus s;
  s.mount = MountInfo{"/mnt/t", 7, 6881, 1000};
  s.now = 1065;
  TorrentStatus t = torrent(4, {0, 1});
  t.peers = 2;
  t.seeds = 1;
  t.total_downloaded = 400;
  t.total_uploaded = 100;
  t.files = {{"movie/a.mkv", 3 << 18, 2 << 18}, {"movie/b.srt", 1 << 18, 0}};
  s.torrents = {t};
  TextStyle style;
  const std::string text = render_status_text(s, style);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  for (const char* part : {"/mnt/t  (pid 7, port 6881, up 1:05, 1 torrent)", "movie   50.0%",
                           "peers 2 (1 seeds)", "ratio 0.25", " 66.7%", "movie/a.mkv",
                           "[#############-------]  66.7%    768 KiB  movie/a.mkv",
                           "[--------------------]", "movie/b.srt", "pieces 2 / 4", "|##..|"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << " in\n" << text;
  }
  t.total_downloaded = 0;
  s.torrents = {t};
  EXPECT_NE(render_status_text(s, style).find("ratio -"), std::string::npos);
  style.terminal = true;
  style.width = 40;
  const std::string tty = render_status_text(s, style);
  EXPECT_NE(tty.find("\x1b[1m"), std::string::npos);
  EXPECT_NE(tty.find("██"), std::string::npos);
}

}  // namespace
}  // namespace torfs::tools
