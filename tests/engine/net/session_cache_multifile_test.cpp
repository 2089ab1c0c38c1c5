// The cache budget with a multi-file torrent whose file sizes are odd, so piece boundaries
// fall inside filesystem blocks. Evicting a piece may free such a shared block only when the
// other pieces in it are absent (torrent_cache_blocks.cpp): the blocks on disk then stay
// within the cap plus a bound that does not grow with the number of evictions, and a verified
// piece next to an evicted one keeps every byte.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>

#include "cache/completion_store.hpp"
#include "cache/data_store.hpp"
#include "cache/sha1.hpp"
#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "engine/torrent_creator.hpp"
#include "tests/engine/net/session_fixture.hpp"

namespace torfs {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::uint32_t kPiece = 16 * 1024;
constexpr std::uint64_t kCap = 16ull * kPiece;  // 256 KiB
constexpr std::uint32_t kFiles = 24;
// Room for the extent trees of files full of holes (see session_cache_test.cpp), per file.
constexpr std::uint64_t kFsMetadataPerFile = 4096;

class SessionCacheMultiFileTest : public testing::SessionFixture {
 protected:
  SessionCacheMultiFileTest() : SessionFixture("torfs-cache-multi") {}

  void SetUp() override {
    SessionFixture::SetUp();
    // Odd sizes (~300 KiB each, ~7 MiB in all): no file starts on a block boundary of the
    // torrent stream, so almost every piece boundary lies inside a block.
    std::mt19937_64 rng(11);
    const fs::path dir = root_ / "seed" / "multi";
    fs::create_directories(dir);
    for (std::uint32_t i = 0; i < kFiles; ++i) {
      std::string bytes(200'003 + 9'973 * i + (i * i * 131) % 4093, '\0');
      for (char& c : bytes)
        c = static_cast<char>(rng());
      char name[16];
      std::snprintf(name, sizeof name, "f%02u.bin", i);
      std::ofstream(dir / name, std::ios::binary).write(bytes.data(), bytes.size());
    }
    CreateOptions opt;
    opt.source = dir;
    opt.piece_length = kPiece;
    auto torrent = create_torrent(opt);
    ASSERT_TRUE(torrent) << torrent.error().message;
    auto mi = parse_metainfo(*torrent);
    ASSERT_TRUE(mi) << mi.error().message;
    metainfo_ = *mi;
    for (const FileEntry& e : metainfo_.layout.files()) {
      std::ifstream in(root_ / "seed" / e.path, std::ios::binary);
      content_.append(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_EQ(content_.size(), metainfo_.layout.total_size());
    block_ = 4096;
    struct stat st {};
    if (::stat(root_.c_str(), &st) == 0 && st.st_blksize > 0) block_ = st.st_blksize;
  }

  void TearDown() override {
    t_.reset();
    leecher_.reset();  // stops the sessions before their directories go
    seeder_.reset();
    SessionFixture::TearDown();
  }

  // A seeder, and an on-demand downloader under the cap connected to it (t_).
  void start_sessions() {
    seeder_ = std::make_unique<Session>(config("seeder"));
    auto seeding = seed(*seeder_);
    ASSERT_TRUE(seeding) << seeding.error().message;
    SessionConfig c = config("leecher");
    c.cache_size = kCap;
    leecher_ = std::make_unique<Session>(c);
    ASSERT_TRUE(leecher_->start());
    TorrentConfig tc;
    tc.data_dir = root_ / "leech";
    tc.use_trackers = false;
    tc.on_demand = true;
    tc.peers = {"127.0.0.1:" + std::to_string(seeder_->listen_port())};
    auto t = leecher_->add_torrent(metainfo_, tc);
    ASSERT_TRUE(t) << t.error().message;
    t_ = *t;
  }
  void stop_sessions() {
    leecher_->stop();
    seeder_->stop();
  }
  std::uint32_t num_pieces() const { return metainfo_.layout.num_pieces(); }
  std::uint64_t piece_offset(std::uint32_t p) const {
    return metainfo_.layout.piece_offset(PieceIndex(p));
  }
  std::uint32_t piece_size(std::uint32_t p) const {
    return metainfo_.layout.piece_size(PieceIndex(p));
  }

  // Reads stream bytes [offset, offset + length) from the torrent's descriptors, file by file.
  static bool pread_range(Torrent& t, std::uint64_t offset, std::string& out) {
    std::size_t pos = 0;
    return visit_slices(t.metainfo().layout, offset, out.size(), [&](const FileSlice& s) {
      const ssize_t n =
          ::pread(t.file_fd(s.file), out.data() + pos, s.length, static_cast<off_t>(s.file_offset));
      pos += s.length;
      return n == static_cast<ssize_t>(s.length);
    });
  }
  // What the filesystem does: wait, pin, read, unpin; an evicted range is waited for again.
  std::string read_through(Torrent& t, std::uint64_t offset, std::uint64_t length, ReaderId reader,
                           std::uint64_t readahead) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto promise = std::make_shared<std::promise<std::error_code>>();
      auto calls = std::make_shared<std::atomic<int>>(0);
      t.wait_for_range(RangeRequest{offset, length, Clock::now() + 20s, reader, readahead},
                       [promise, calls](std::error_code ec) {
                         if (calls->fetch_add(1) == 0) promise->set_value(ec);
                       });
      if (promise->get_future().get()) return "wait failed";
      if (!t.acquire_read(offset, length)) continue;
      std::string out(length, '\0');
      const bool ok = pread_range(t, offset, out);
      t.release_read(offset, length);
      return ok ? out : "short read";
    }
    return "evicted five times in a row";
  }
  // Sum of the blocks allocated to the downloader's data files.
  std::uint64_t allocated(const std::string& dir) const {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(root_ / dir, ec)) {
      struct stat st {};
      if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0)
        total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    return total;
  }
  // The cap, the pieces being written, the partial edge blocks of the resident pieces (two
  // per file slice, a piece spans at most two of these files), the extent trees. Independent
  // of how many pieces were evicted.
  std::uint64_t bound() const {
    const std::uint64_t pieces = kCap / kPiece + 2;
    return kCap + 2 * kPiece + pieces * 4 * block_ + kFiles * kFsMetadataPerFile;
  }
  // Every verified piece of `t` reads back as the torrent's bytes.
  void expect_had_pieces_intact(Torrent& t) {
    for (std::uint32_t p = 0; p < num_pieces(); ++p) {
      if (!t.acquire_read(piece_offset(p), piece_size(p))) continue;
      std::string bytes(piece_size(p), '\0');
      EXPECT_TRUE(pread_range(t, piece_offset(p), bytes));
      t.release_read(piece_offset(p), piece_size(p));
      EXPECT_EQ(sha1(bytes), metainfo_.piece_hashes[p]) << "verified piece " << p;
    }
  }
  // Every piece the completion store claims for `dir` hashes correctly on disk.
  void expect_rows_true(const std::string& db, const std::string& dir, std::size_t max_rows) {
    std::vector<PieceIndex> rows;
    ASSERT_NO_FATAL_FAILURE(load_single_torrent_rows(db, max_rows, rows));
    EXPECT_FALSE(rows.empty());
    DataStoreOptions ro;
    ro.read_only = true;
    auto data = DataStore::open(root_ / dir, metainfo_.layout, ro);
    ASSERT_TRUE(data) << data.error().message;
    for (PieceIndex p : rows) {
      std::string bytes(piece_size(p.value()), '\0');
      ASSERT_TRUE((*data)->read(piece_offset(p.value()), bytes));
      EXPECT_EQ(sha1(bytes), metainfo_.piece_hashes[p.value()]) << "row for piece " << p.value();
    }
  }

  std::uint64_t block_ = 4096;
  std::unique_ptr<Session> seeder_, leecher_;
  std::shared_ptr<Torrent> t_;
};

TEST_F(SessionCacheMultiFileTest, StreamTwiceKeepsBlocksWithinTheCapAndBytesCorrect) {
  ASSERT_NO_FATAL_FAILURE(start_sessions());
  Torrent& t = *t_;
  const std::uint64_t size = content_.size();
  // Without freeing shared blocks, every evicted piece boundary would keep a block: the
  // stream below evicts enough pieces for that to exceed the bound several times over.
  ASSERT_GT((size - kCap) / kPiece * block_, 2 * bound());

  std::uint64_t max_alloc = 0;
  constexpr std::uint64_t kRead = 40 * 1024 + 123;  // straddles pieces and files
  for (int pass = 0; pass < 2; ++pass) {
    for (std::uint64_t off = 0; off < size; off += kRead) {
      const std::uint64_t len = std::min(kRead, size - off);
      ASSERT_EQ(read_through(t, off, len, 1 + pass, 4 * kPiece), content_.substr(off, len))
          << "pass " << pass << " offset " << off;
      max_alloc = std::max(max_alloc, allocated("leech"));
    }
    t.close_reader(1 + pass);
  }
  EXPECT_LE(t.stats().have_bytes, kCap);
  EXPECT_LE(max_alloc, bound()) << "blocks on disk grew with the number of evictions";
  EXPECT_GT(t.stats().downloaded, 2 * (size - kCap));  // both passes were fetched
  expect_had_pieces_intact(t);
  stop_sessions();
  EXPECT_LE(allocated("leech"), bound());
  expect_rows_true("leecher", "leech", kCap / kPiece);
}

// Odd pieces are evicted first (even ones are used again after every read), so almost every
// verified piece has evicted neighbours sharing its edge blocks: those blocks must keep their
// data. Later the even pieces go too, and the blocks they share with absent pieces are freed.
TEST_F(SessionCacheMultiFileTest, VerifiedNeighboursOfEvictedPiecesKeepEveryByte) {
  ASSERT_NO_FATAL_FAILURE(start_sessions());
  Torrent& t = *t_;

  std::uint64_t max_alloc = 0;
  for (std::uint32_t p = 0; p < num_pieces(); ++p) {
    const ReaderId reader = 100 + p;
    ASSERT_EQ(read_through(t, piece_offset(p), piece_size(p), reader, 0),
              content_.substr(piece_offset(p), piece_size(p)))
        << "piece " << p;
    t.close_reader(reader);
    // A use of the recent even pieces, in ascending order: the odd ones are older.
    const std::uint32_t from = p >= 64 ? p - 64 : 0;
    for (std::uint32_t q = from + from % 2; q <= p; q += 2) {
      if (t.acquire_read(piece_offset(q), 1)) t.release_read(piece_offset(q), 1);
    }
    max_alloc = std::max(max_alloc, allocated("leech"));
    if (p % 64 == 63) expect_had_pieces_intact(t);
  }
  expect_had_pieces_intact(t);
  EXPECT_LE(max_alloc, bound());
  stop_sessions();
  expect_rows_true("leecher", "leech", kCap / kPiece);
}

}  // namespace
}  // namespace torfs
