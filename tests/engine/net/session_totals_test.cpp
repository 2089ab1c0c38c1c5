// Session::add_torrent starts a torrent's all-time totals from its own database row.
#include <gtest/gtest.h>

#include "cache/completion_store.hpp"
#include "tests/engine/net/session_fixture.hpp"

namespace torfs {
namespace {

class SessionTotalsTest : public testing::SessionFixture {
 protected:
  SessionTotalsTest() : SessionFixture("torfs-totals", {16384, 5 * 16384 + 100, 11}) {}

  TorrentRecord record_for(const Metainfo& m, const std::filesystem::path& data_dir) const {
    TorrentRecord r;
    r.info_hash = m.info_hash;
    r.data_dir = data_dir.lexically_normal().string();
    r.name = m.name;
    r.total_size = m.layout.total_size();
    r.piece_length = m.layout.piece_length();
    r.num_pieces = m.layout.num_pieces();
    return r;
  }
};

TEST_F(SessionTotalsTest, AddedTorrentStartsFromItsOwnStoredTotals) {
  const SessionConfig cfg = config("seeder");
  {
    auto store = CompletionStore::open(cfg.state_db);
    ASSERT_TRUE(store) << store.error().message;
    // Rows of other torrents around ours: only our row's totals may be picked up.
    for (std::uint8_t i = 1; i <= 3; ++i) {
      TorrentRecord other = record_for(metainfo_, root_ / ("other" + std::to_string(i)));
      auto id = (*store)->upsert_torrent(other);
      ASSERT_TRUE(id);
      ASSERT_TRUE((*store)->add_transfer(*id, 7 * i, 9 * i));
    }
    auto id = (*store)->upsert_torrent(record_for(metainfo_, root_ / "seed"));
    ASSERT_TRUE(id) << id.error().message;
    ASSERT_TRUE((*store)->add_transfer(*id, 1000, 2000));
  }
  Session session(cfg);
  auto torrent = seed(session);
  ASSERT_TRUE(torrent) << torrent.error().message;
  const TorrentStats stats = (*torrent)->stats();
  EXPECT_EQ(stats.total_uploaded, 1000u + stats.uploaded);
  EXPECT_EQ(stats.total_downloaded, 2000u + stats.downloaded);
  session.stop();
}

TEST_F(SessionTotalsTest, NewTorrentStartsFromZero) {
  Session session(config("fresh"));
  auto torrent = seed(session);
  ASSERT_TRUE(torrent) << torrent.error().message;
  const TorrentStats stats = (*torrent)->stats();
  EXPECT_EQ(stats.total_uploaded, stats.uploaded);
  EXPECT_EQ(stats.total_downloaded, stats.downloaded);
  session.stop();
}

}  // namespace
}  // namespace torfs
