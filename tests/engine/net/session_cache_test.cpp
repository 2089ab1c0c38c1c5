// The cache budget end to end inside the engine: two (or three) sessions on loopback, the
// downloader capped well below the torrent's size. Streams stay under the cap, evicted pieces
// are fetched again, pinned pieces are never evicted, background downloading stops at the cap,
// evicted pieces are refused to peers, and every completion row left behind is true.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "cache/completion_store.hpp"
#include "cache/sha1.hpp"
#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "engine/torrent_creator.hpp"
#include "tests/engine/net/session_fixture.hpp"

namespace torfs {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kPiece = 64 * 1024;
constexpr std::uint64_t kSize = 64ull * kPiece;  // 4 MiB
constexpr std::uint64_t kCap = 16ull * kPiece;   // 1 MiB
// A data file full of holes needs filesystem metadata of its own (ext4 extent-tree blocks, one
// per ~340 extents), which st_blocks counts too.
constexpr std::uint64_t kFsMetadata = 16 * 1024;

class SessionCacheTest : public testing::SessionFixture {
 protected:
  SessionCacheTest() : SessionFixture("torfs-cache-test", {kPiece, kSize, 7}) {}
  // Sessions still running after a failed assertion stop before the scratch dir goes.
  void TearDown() override {
    stop_pair();
    SessionFixture::TearDown();
  }

  SessionConfig config(const std::string& name, std::uint64_t cache_size = 0) {
    SessionConfig c = SessionFixture::config(name);
    c.cache_size = cache_size;
    return c;
  }
  std::shared_ptr<Torrent> add(Session& s, const std::string& dir, bool on_demand,
                               std::uint16_t peer_port) {
    TorrentConfig tc;
    tc.data_dir = root_ / dir;
    tc.use_trackers = false;
    tc.on_demand = on_demand;
    if (peer_port) tc.peers = {"127.0.0.1:" + std::to_string(peer_port)};
    auto t = s.add_torrent(metainfo_, tc);
    EXPECT_TRUE(t) << t.error().message;
    return t ? *t : nullptr;
  }
  // start()s `s`, then add()s; null (after a failed expectation) if either fails.
  std::shared_ptr<Torrent> start_with(Session& s, const std::string& dir, bool on_demand,
                                      std::uint16_t peer_port) {
    auto started = s.start();
    EXPECT_TRUE(started) << started.error().message;
    return started ? add(s, dir, on_demand, peer_port) : nullptr;
  }

  // Most tests' set-up: seeder_ seeds root_/seed; leecher_ (database `db`, data dir `dir`,
  // cache cap `cap`, 0 = none) knows only the seeder's address; leech_ is its torrent. Run it
  // under ASSERT_NO_FATAL_FAILURE.
  void start_pair(std::uint64_t cap, bool on_demand, const std::string& db = "leecher",
                  const std::string& dir = "leech") {
    seeder_.emplace(config("seeder"));
    seed_ = start_with(*seeder_, "seed", false, 0);
    ASSERT_TRUE(seed_);
    leecher_.emplace(config(db, cap));
    leech_ = start_with(*leecher_, dir, on_demand, seeder_->listen_port());
    ASSERT_TRUE(leech_);
  }
  // Destroys the pair in the order locals would go: leecher first.
  void stop_pair() {
    leech_.reset();
    leecher_.reset();
    seed_.reset();
    seeder_.reset();
  }
  // The common ending: stop both (rows are committed), then check the leecher's rows.
  void stop_and_expect_rows_true(std::size_t max_rows) {
    leecher_->stop();
    seeder_->stop();
    expect_rows_true("leecher", "leech", max_rows);
  }

  static std::error_code wait(Torrent& t, std::uint64_t offset, std::uint64_t length,
                              Clock::duration timeout, ReaderId reader = 1,
                              std::uint64_t readahead = 0) {
    return first_answer(t, {offset, length, Clock::now() + timeout, reader, readahead});
  }
  // What the filesystem does: wait, pin, read from the descriptor, unpin; a range evicted
  // between the answer and the pin is waited for again.
  std::string read_through(Torrent& t, std::uint64_t offset, std::uint64_t length, ReaderId reader,
                           std::uint64_t readahead) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (wait(t, offset, length, 20s, reader, readahead)) return "wait failed";
      if (!t.acquire_read(offset, length)) continue;
      std::string out(length, '\0');
      const ssize_t n = ::pread(t.file_fd(FileIndex(0)), out.data(), length, offset);
      t.release_read(offset, length);
      if (n != static_cast<ssize_t>(length)) return "short read";
      return out;
    }
    return "evicted five times in a row";
  }
  std::uint64_t allocated(const std::string& dir) {
    struct stat st {};
    if (::stat((root_ / dir / "data.bin").c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  // Every piece the completion store claims for `dir` must hash correctly on disk.
  void expect_rows_true(const std::string& db, const std::string& dir, std::size_t max_rows) {
    std::vector<PieceIndex> rows;
    ASSERT_NO_FATAL_FAILURE(load_single_torrent_rows(db, max_rows, rows));
    std::ifstream in(root_ / dir / "data.bin", std::ios::binary);
    for (PieceIndex p : rows) {
      std::string bytes(kPiece, '\0');
      in.seekg(static_cast<std::streamoff>(p.value()) * kPiece);
      in.read(bytes.data(), kPiece);
      EXPECT_EQ(sha1(bytes), metainfo_.piece_hashes[p.value()]) << "row for piece " << p.value();
    }
  }

  std::optional<Session> seeder_, leecher_;
  std::shared_ptr<Torrent> seed_, leech_;
};

TEST_F(SessionCacheTest, OnDemandStreamStaysUnderTheCapAndRefetchesEvictedPieces) {
  ASSERT_NO_FATAL_FAILURE(start_pair(kCap, true));
  const auto t = leech_;

  std::uint64_t max_alloc = 0, max_have = 0;
  constexpr std::uint64_t kRead = 48 * 1024;  // reads straddle piece boundaries
  for (std::uint64_t off = 0; off < kSize; off += kRead) {
    const std::uint64_t len = std::min(kRead, kSize - off);
    ASSERT_EQ(read_through(*t, off, len, 1, 4 * kPiece), content_.substr(off, len)) << off;
    max_alloc = std::max(max_alloc, allocated("leech"));
    max_have = std::max(max_have, t->stats().have_bytes);
  }
  // One reader whose window (4 pieces, clipped to a quarter of the cap anyway) and current
  // pieces fit in the cap: eviction always finds a victim, so the cap holds exactly.
  EXPECT_LE(max_have, kCap);
  EXPECT_LE(max_alloc, kCap + kFsMetadata);
  EXPECT_GE(max_have, kCap - 2 * kPiece);  // the cache was actually used up to the cap
  t->close_reader(1);

  EXPECT_FALSE(t->have_piece(PieceIndex(0)));  // least recently used: evicted long ago
  ASSERT_EQ(read_through(*t, 0, 3 * kPiece, 2, 0), content_.substr(0, 3 * kPiece));
  EXPECT_TRUE(t->have_piece(PieceIndex(0)));
  EXPECT_GT(t->stats().downloaded, kSize);  // the first pieces came twice
  stop_and_expect_rows_true(kCap / kPiece);
}

TEST_F(SessionCacheTest, PinnedPieceSurvivesAStreamAndIsEvictedAfterRelease) {
  ASSERT_NO_FATAL_FAILURE(start_pair(kCap, true));
  const auto t = leech_;
  ASSERT_EQ(wait(*t, 0, kPiece, 20s, 1), std::error_code());
  ASSERT_TRUE(t->acquire_read(100, 1000));  // piece 0 pinned, as a FUSE read would
  t->close_reader(1);
  // Other threads (FUSE readers, status) look at a pinned piece while evictions run: it must
  // never look missing, not even for a moment.
  std::atomic<bool> streaming{true};
  std::atomic<int> seen_missing{0};
  std::thread watcher([&] {
    while (streaming.load())
      if (!t->have_piece(PieceIndex(0))) seen_missing.fetch_add(1);
  });
  for (std::uint64_t off = kPiece; off < kSize; off += kPiece) {
    EXPECT_EQ(read_through(*t, off, kPiece, 2, 2 * kPiece), content_.substr(off, kPiece));
    EXPECT_TRUE(t->have_piece(PieceIndex(0))) << "evicted while pinned, at " << off;
  }
  streaming = false;
  watcher.join();
  EXPECT_EQ(seen_missing.load(), 0) << "a pinned piece looked missing while others were evicted";
  t->release_read(100, 1000);
  t->close_reader(2);
  // Streaming the first half again makes room by evicting the least recently used: piece 0.
  for (std::uint64_t off = kPiece; off < kSize / 2; off += kPiece)
    ASSERT_EQ(read_through(*t, off, kPiece, 3, 0), content_.substr(off, kPiece));
  EXPECT_FALSE(t->have_piece(PieceIndex(0)));
  stop_and_expect_rows_true(kCap / kPiece + 1);  // + the pinned piece
}

TEST_F(SessionCacheTest, BackgroundDownloadFillsTheCapAndWaits) {
  ASSERT_NO_FATAL_FAILURE(start_pair(kCap, false));
  const auto t = leech_;
  poll_until([&] { return t->stats().have_bytes + 2 * kPiece >= kCap; }, 30s);
  ASSERT_GE(t->stats().have_bytes + 2 * kPiece, kCap);
  std::this_thread::sleep_for(1500ms);  // time to thrash, if it did
  const TorrentStats s = t->stats();
  EXPECT_LE(s.have_bytes, kCap);
  EXPECT_FALSE(t->is_complete());
  // Pieces started before the cap was reached may finish (and evict others), nothing more.
  EXPECT_LT(s.downloaded, kSize / 2) << "background downloading kept going under a full cap";
  EXPECT_LE(allocated("leech"), kCap + kFsMetadata);
  stop_and_expect_rows_true(kCap / kPiece);
}

TEST_F(SessionCacheTest, SmallerCapAtRestartShrinksAndTheRestStaysTrusted) {
  ASSERT_NO_FATAL_FAILURE(start_pair(0, false));  // no cap: the whole torrent
  auto done = std::make_shared<std::promise<void>>();
  leech_->on_complete([done] { done->set_value(); });
  ASSERT_EQ(done->get_future().wait_for(30s), std::future_status::ready);
  stop_pair();
  ASSERT_GE(allocated("leech"), kSize);
  {
    Session capped(config("leecher", kCap));  // restarted with a cap, no peers at all
    auto t = start_with(capped, "leech", true, 0);
    ASSERT_TRUE(t);
    EXPECT_LE(t->stats().have_bytes, kCap);  // evicted from the engine's view at start
    poll_until([&] { return allocated("leech") <= kCap + kFsMetadata; }, 20s);
    EXPECT_LE(allocated("leech"), kCap + kFsMetadata);
    // What is left reads correctly through pins.
    for (std::uint32_t p = 0; p < kSize / kPiece; ++p) {
      if (!t->have_piece(PieceIndex(p))) continue;
      ASSERT_TRUE(t->acquire_read(std::uint64_t{p} * kPiece, kPiece));
      std::string bytes(kPiece, '\0');
      ASSERT_EQ(::pread(t->file_fd(FileIndex(0)), bytes.data(), kPiece, off_t{p} * kPiece), kPiece);
      t->release_read(std::uint64_t{p} * kPiece, kPiece);
      EXPECT_EQ(bytes, content_.substr(std::uint64_t{p} * kPiece, kPiece)) << p;
    }
  }
  expect_rows_true("leecher", "leech", kCap / kPiece);
  // The punches changed the file's mtime, and that was recorded: the next start trusts the
  // rows (no re-check of the file) and has exactly those pieces.
  std::vector<std::string> lines;
  auto logging = config("leecher");
  logging.log = [&lines](LogLevel, std::string_view line) { lines.emplace_back(line); };
  Session again(logging);
  auto t = start_with(again, "leech", true, 0);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->stats().have_bytes, kCap);
  for (const std::string& line : lines)
    EXPECT_EQ(line.find("re-check"), std::string::npos) << line;
}

TEST_F(SessionCacheTest, EvictedPiecesAreRefusedToPeersNeverServedAsZeros) {
  ASSERT_NO_FATAL_FAILURE(start_pair(kCap, true, "middle", "middle"));
  Session& middle = *leecher_;
  const auto m = leech_;
  // Connected before the middle session has anything: it hears of every piece by `have`.
  Session last(config("last"));
  auto l = start_with(last, "last", true, middle.listen_port());
  ASSERT_TRUE(l);
  for (std::uint64_t off = 0; off < kSize; off += kPiece)
    ASSERT_EQ(read_through(*m, off, kPiece, 1, 0), content_.substr(off, kPiece));
  m->close_reader(1);
  ASSERT_FALSE(m->have_piece(PieceIndex(0)));
  ASSERT_TRUE(m->have_piece(PieceIndex(63)));
  seeder_->stop();  // from now on the middle session is the only source

  EXPECT_EQ(read_through(*l, 63 * kPiece, kPiece, 1, 0), content_.substr(63 * kPiece));
  // Piece 0 was announced but is gone: refused, never answered with a punched hole (zeros
  // would fail the hash check and get the middle session banned).
  EXPECT_EQ(wait(*l, 0, kPiece, 3s), std::make_error_code(std::errc::timed_out));
  EXPECT_FALSE(m->have_piece(PieceIndex(0)));
  // Not banned: still served (after a reconnect if the middle dropped the pestering peer).
  EXPECT_EQ(read_through(*l, 62 * kPiece, kPiece, 2, 0), content_.substr(62 * kPiece, kPiece));
  last.stop();
  middle.stop();
}

}  // namespace
}  // namespace torfs
