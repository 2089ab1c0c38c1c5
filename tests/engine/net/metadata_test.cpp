// Session::fetch_metadata between two engine sessions on loopback: one seeds (and so serves
// its info dictionary with ut_metadata), the other knows only a magnet link. Covers fetching
// a multi-piece info dictionary, keeping it in SQLite for a later session that has no peers,
// and the timeout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "engine/torrent_creator.hpp"
#include "engine/ut_metadata.hpp"
#include "tests/engine/net/session_fixture.hpp"

namespace torfs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class MetadataTest : public testing::SessionFixture {
 protected:
  MetadataTest() : SessionFixture("torfs-metadata-test") {}
  void SetUp() override {
    SessionFixture::SetUp();
    // 20 MiB in 16 KiB pieces: 1280 piece hashes, an info dict of two metadata pieces.
    make_torrent(16 * 1024, [](std::ofstream& out) {
      std::string block(16 * 1024, '\0');
      for (int i = 0; i < 1280; ++i) {
        block[0] = static_cast<char>(i);
        block[1] = static_cast<char>(i >> 8);
        out.write(block.data(), block.size());
      }
    });
    ASSERT_GT(ut_metadata::num_pieces(metainfo_.info_bytes.size()), 1u);
  }
};

TEST_F(MetadataTest, FetchedFromAPeerThenFromTheDatabase) {
  Session seeder(config("seeder"));
  ASSERT_TRUE(seed(seeder));

  Magnet magnet;
  magnet.info_hash = metainfo_.info_hash;
  magnet.trackers = {"http://127.0.0.1:1/announce"};
  {
    Session leecher(config("leecher"));
    ASSERT_TRUE(leecher.start());
    MetadataRequest req;
    req.peers = {"127.0.0.1:" + std::to_string(seeder.listen_port())};
    req.use_trackers = false;
    req.timeout = 30s;
    std::atomic<int> progress_calls{0};
    req.progress = [&](std::size_t, std::size_t) { ++progress_calls; };
    auto meta = leecher.fetch_metadata(magnet, req);
    ASSERT_TRUE(meta) << meta.error().message;
    EXPECT_EQ(meta->info_bytes, metainfo_.info_bytes);
    EXPECT_EQ(meta->info_hash, metainfo_.info_hash);
    EXPECT_EQ(meta->layout.total_size(), metainfo_.layout.total_size());
    ASSERT_EQ(meta->tracker_tiers.size(), 1u);  // the magnet's tr= becomes a tier
    EXPECT_EQ(meta->tracker_tiers[0][0], "http://127.0.0.1:1/announce");
    TorrentConfig lc;
    lc.data_dir = root_ / "leech";
    lc.use_trackers = false;
    lc.on_demand = true;
    lc.store_metainfo = true;
    ASSERT_TRUE(leecher.add_torrent(std::move(*meta), lc));
    leecher.stop();
  }
  seeder.stop();
  // No peers at all now: the metadata must come from the database.
  Session again(config("leecher"));
  ASSERT_TRUE(again.start());
  MetadataRequest req;
  req.use_trackers = false;
  req.timeout = 1s;
  auto meta = again.fetch_metadata(magnet, req);
  ASSERT_TRUE(meta) << meta.error().message;
  EXPECT_EQ(meta->info_bytes, metainfo_.info_bytes);
}

TEST_F(MetadataTest, TimesOutWithoutPeers) {
  Session leecher(config("lonely"));
  ASSERT_TRUE(leecher.start());
  Magnet magnet;
  magnet.info_hash = metainfo_.info_hash;
  MetadataRequest req;
  req.peers = {"127.0.0.1:1"};  // refuses connections
  req.timeout = 500ms;
  auto meta = leecher.fetch_metadata(magnet, req);
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().code, std::errc::timed_out);
  EXPECT_NE(meta.error().message.find("1 peers tried"), std::string::npos) << meta.error().message;
}

TEST_F(MetadataTest, StopAnswersAWaitingFetch) {
  Session leecher(config("stopping"));
  ASSERT_TRUE(leecher.start());
  Magnet magnet;
  magnet.info_hash = metainfo_.info_hash;
  MetadataRequest req;
  req.timeout = 60s;
  std::thread stopper([&] {
    std::this_thread::sleep_for(300ms);
    leecher.stop();
  });
  const auto start = std::chrono::steady_clock::now();
  auto meta = leecher.fetch_metadata(magnet, req);
  stopper.join();
  ASSERT_FALSE(meta);
  EXPECT_EQ(meta.error().code, std::errc::operation_canceled) << meta.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
}

}  // namespace
}  // namespace torfs
