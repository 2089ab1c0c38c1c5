// Two engine sessions on loopback: one seeds a torrent made here, the other downloads it,
// exercising the upload path, on-demand fetching through wait_for_range, and every way a
// waiter is answered (verified, timed out, cancelled, engine stopping).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>

#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "engine/torrent_creator.hpp"
#include "tests/engine/net/session_fixture.hpp"

namespace torfs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kPiece = 64 * 1024;
constexpr std::uint64_t kSize = 3 * 1024 * 1024 + 777;

class SessionTest : public testing::SessionFixture {
 protected:
  SessionTest() : SessionFixture("torfs-session-test") {}
  void SetUp() override {
    SessionFixture::SetUp();
    make_random_torrent(kPiece, kSize, 42);
  }

  std::shared_ptr<Torrent> start_seeder(Session& seeder) {
    auto t = seed(seeder);
    EXPECT_TRUE(t) << t.error().message;
    EXPECT_TRUE((*t)->is_complete());  // re-checked at add: no database rows yet
    return *t;
  }

  // Waits for a range; returns the error it was answered with.
  static std::error_code wait(Torrent& t, std::uint64_t offset, std::uint64_t length,
                              Clock::duration timeout, ReaderId reader = 1,
                              std::uint64_t readahead = 0) {
    auto promise = std::make_shared<std::promise<std::error_code>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    RangeRequest r{offset, length, Clock::now() + timeout, reader, readahead};
    t.wait_for_range(r, [promise, calls](std::error_code ec) {
      if (calls->fetch_add(1) == 0) promise->set_value(ec);
    });
    auto ec = promise->get_future().get();
    EXPECT_EQ(calls->load(), 1);
    return ec;
  }

  std::string read(Torrent& t, std::uint64_t offset, std::size_t length) {
    std::string out(length, '\0');
    const int fd = t.file_fd(FileIndex(0));
    EXPECT_GE(fd, 0);
    EXPECT_EQ(pread(fd, out.data(), length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
    return out;
  }
};

TEST_F(SessionTest, OnDemandReadFetchesOnlyWhatIsAsked) {
  Session seeder(config("seeder"));
  auto seed = start_seeder(seeder);
  Session leecher(config("leecher"));
  ASSERT_TRUE(leecher.start());
  TorrentConfig tc;
  tc.data_dir = root_ / "leech";
  tc.use_trackers = false;
  tc.on_demand = true;
  tc.peers = {"127.0.0.1:" + std::to_string(seeder.listen_port())};
  auto t = leecher.add_torrent(metainfo_, tc);
  ASSERT_TRUE(t) << t.error().message;
  const std::uint64_t offset = kSize / 2 + 1000;  // crosses into a second piece
  const std::size_t length = kPiece;
  ASSERT_EQ(wait(**t, offset, length, 20s), std::error_code());
  const PieceRange range = metainfo_.layout.pieces_for_range(offset, length);
  for (PieceIndex p = range.begin; p < range.end; ++p)
    EXPECT_TRUE((*t)->have_piece(p));
  EXPECT_EQ(read(**t, offset, length), content_.substr(offset, length));
  EXPECT_LT((*t)->stats().pieces_have, metainfo_.layout.num_pieces() / 2);
  // Already verified: answered before wait_for_range returns.
  ASSERT_EQ(wait(**t, offset, 10, 0s), std::error_code());
  leecher.stop();
  seeder.stop();
  EXPECT_GT(seed->stats().uploaded, 0u);
}

TEST_F(SessionTest, FullDownloadCompletesAndResumesFromTheDatabase) {
  Session seeder(config("seeder"));
  auto seed = start_seeder(seeder);
  TorrentConfig tc;
  tc.data_dir = root_ / "leech";
  tc.use_trackers = false;
  tc.peers = {"127.0.0.1:" + std::to_string(seeder.listen_port())};
  {
    Session leecher(config("leecher"));
    ASSERT_TRUE(leecher.start());
    auto t = leecher.add_torrent(metainfo_, tc);
    ASSERT_TRUE(t) << t.error().message;
    auto done = std::make_shared<std::promise<void>>();
    (*t)->on_complete([done] { done->set_value(); });
    ASSERT_EQ(done->get_future().wait_for(30s), std::future_status::ready);
    EXPECT_TRUE((*t)->is_complete());
    EXPECT_EQ(read(**t, 0, kSize), content_);
    EXPECT_EQ((*t)->file_have_bytes(FileIndex(0)), kSize);
  }  // the destructor stops the session and commits completion
  seeder.stop();
  Session again(config("leecher"));
  ASSERT_TRUE(again.start());
  tc.peers.clear();
  auto t = again.add_torrent(metainfo_, tc);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE((*t)->is_complete());
  EXPECT_EQ((*t)->stats().downloaded, 0u);
}

TEST_F(SessionTest, WaitersTimeOutCancelAndStop) {
  Session lonely(config("lonely"));
  ASSERT_TRUE(lonely.start());
  TorrentConfig tc;
  tc.data_dir = root_ / "leech";
  tc.use_trackers = false;
  auto added = lonely.add_torrent(metainfo_, tc);
  ASSERT_TRUE(added) << added.error().message;
  Torrent& t = **added;
  const auto t0 = Clock::now();
  EXPECT_EQ(wait(t, 0, 100, 300ms), std::make_error_code(std::errc::timed_out));
  EXPECT_GE(Clock::now() - t0, 250ms);

  auto cancelled = std::make_shared<std::promise<std::error_code>>();
  const WaitTicket ticket =
      t.wait_for_range(RangeRequest{5000, 100, Clock::now() + 60s, 2, 0},
                       [cancelled](std::error_code ec) { cancelled->set_value(ec); });
  t.cancel_wait(ticket);
  EXPECT_EQ(cancelled->get_future().get(), std::make_error_code(std::errc::operation_canceled));

  auto stopped = std::make_shared<std::promise<std::error_code>>();
  t.wait_for_range(RangeRequest{9000, 100, Clock::now() + 60s, 3, 1 << 20},
                   [stopped](std::error_code ec) { stopped->set_value(ec); });
  lonely.stop();
  EXPECT_EQ(stopped->get_future().get(), std::make_error_code(std::errc::io_error));
  // After stop, new waits are answered at once.
  EXPECT_EQ(wait(t, 0, 100, 60s), std::make_error_code(std::errc::io_error));
}

}  // namespace
}  // namespace torfs
