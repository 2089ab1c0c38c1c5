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

namespace torfs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("torfs-metadata-test-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "seed");
    // 20 MiB in 16 KiB pieces: 1280 piece hashes, an info dict of two metadata pieces.
    std::string block(16 * 1024, '\0');
    std::ofstream out(root_ / "seed" / "data.bin", std::ios::binary);
    for (int i = 0; i < 1280; ++i) {
      block[0] = static_cast<char>(i);
      block[1] = static_cast<char>(i >> 8);
      out.write(block.data(), block.size());
    }
    out.close();
    CreateOptions opt;
    opt.source = root_ / "seed" / "data.bin";
    opt.piece_length = 16 * 1024;
    auto bytes = create_torrent(opt);
    ASSERT_TRUE(bytes) << bytes.error().message;
    auto mi = parse_metainfo(*bytes);
    ASSERT_TRUE(mi) << mi.error().message;
    metainfo_ = *mi;
    ASSERT_GT(ut_metadata::num_pieces(metainfo_.info_bytes.size()), 1u);
  }
  void TearDown() override { fs::remove_all(root_); }

  SessionConfig config(const std::string& name) {
    SessionConfig c;
    c.listen = "127.0.0.1:0";
    c.state_db = root_ / (name + ".db");
    c.worker_threads = 2;
    c.log = [](LogLevel, std::string_view) {};
    return c;
  }

  fs::path root_;
  Metainfo metainfo_;
};

TEST_F(MetadataTest, FetchedFromAPeerThenFromTheDatabase) {
  Session seeder(config("seeder"));
  ASSERT_TRUE(seeder.start());
  TorrentConfig tc;
  tc.data_dir = root_ / "seed";
  tc.use_trackers = false;
  ASSERT_TRUE(seeder.add_torrent(metainfo_, tc));

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
