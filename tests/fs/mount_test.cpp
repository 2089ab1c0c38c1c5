// Real FUSE mounts of a fake torrent: browsing, attributes, reads of verified data, xattrs,
// read-only errors, a file above 4 GiB.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cstring>
#include <random>
#include <set>

#include "tests/fs/mount_fixture.hpp"

namespace torfs::testing {
namespace {

constexpr std::uint32_t kPiece = 16384;

// t/a.bin, t/empty, a pad file, t/dir/b.bin, t/dir/sub/c.txt, t/run.sh (executable)
std::vector<FileEntry> sample_files() {
  return {entry("t/a.bin", 100'000),        entry("t/empty", 0),
          entry("t/.pad/5536", 5536, true), entry("t/dir/b.bin", 50'000),
          entry("t/dir/sub/c.txt", 7),      entry("t/run.sh", 300, false, true)};
}

std::set<std::string> list_dir(const std::filesystem::path& p) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(p)) {
    names.insert(e.path().filename().string());
  }
  return names;
}

TEST(FuseMount, ShowsTheTreeWithFinalSizesAndModes) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(sample_files(), kPiece);
  EXPECT_EQ(list_dir(m.mountpoint()), (std::set<std::string>{"t"}));
  EXPECT_EQ(list_dir(m.path("t")), (std::set<std::string>{"a.bin", "dir", "empty", "run.sh"}));
  EXPECT_EQ(list_dir(m.path("t/dir")), (std::set<std::string>{"b.bin", "sub"}));

  struct stat st;
  ASSERT_EQ(stat(m.path("t/a.bin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  EXPECT_EQ(st.st_size, 100'000);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_mtime, 1'700'000'000);
  EXPECT_EQ(st.st_blocks, 0);  // nothing verified yet
  ASSERT_EQ(stat(m.path("t/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  ASSERT_EQ(stat(m.path("t").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(st.st_nlink, 3u);  // 2 + one subdirectory
  ASSERT_EQ(stat(m.path("t/empty").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_NE(stat(m.path("t/.pad").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_NE(stat(m.path("t/nope").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
}

TEST(FuseMount, ReadsWholeFilesOnceVerified) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(sample_files(), kPiece);
  m.view().deliver_all();
  const auto& files = m.view().metainfo().layout.files();
  for (std::uint32_t i = 0; i < files.size(); ++i) {
    if (files[i].pad) continue;
    SCOPED_TRACE(files[i].path);
    int err;
    const std::string got = read_path(m.path(files[i].path), err);
    EXPECT_EQ(err, 0);
    EXPECT_EQ(got, m.expected(FileIndex(i), 0, files[i].size));
  }
}

TEST(FuseMount, ReadsAcrossPieceAndFileBoundariesAndStopsAtEof) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(sample_files(), kPiece);
  m.view().deliver_all();
  for (int flags : {O_RDONLY, O_RDONLY | O_DIRECT}) {
    const int fd = ::open(m.path("t/dir/b.bin").c_str(), flags);
    ASSERT_GE(fd, 0);
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
      const std::uint64_t off = rng() % 50'000;
      const std::size_t len = 1 + rng() % 40'000;
      int err;
      const std::string got = pread_all(fd, off, len, err);
      ASSERT_EQ(err, 0);
      ASSERT_EQ(got, m.expected(FileIndex(3), off, len)) << off << "+" << len;
    }
    // Across the piece boundary at stream offset 8 * kPiece (b.bin starts at 105536, inside
    // the piece that also holds the end of a.bin and the pad file).
    int err;
    const std::uint64_t boundary = 8 * kPiece - 105'536;
    EXPECT_EQ(pread_all(fd, boundary - 100, 200, err),
              m.expected(FileIndex(3), boundary - 100, 200));
    char c;
    EXPECT_EQ(::pread(fd, &c, 1, 50'000), 0);     // at EOF
    EXPECT_EQ(::pread(fd, &c, 1, 1'000'000), 0);  // past EOF
    char buf[100];
    EXPECT_EQ(::pread(fd, buf, sizeof buf, 49'950), 50);  // clipped at EOF, not before
    ::close(fd);
  }
  int err;
  EXPECT_EQ(read_path(m.path("t/empty"), err), "");
  EXPECT_EQ(err, 0);
}

TEST(FuseMount, LargeReadsArriveInOneRequest) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m({entry("t/big.bin", 4 * 1024 * 1024)}, 256 * 1024);
  m.view().deliver_all();
  const int fd = ::open(m.path("t/big.bin").c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0);
  void* buf = nullptr;
  ASSERT_EQ(posix_memalign(&buf, 4096, 1 << 20), 0);
  ASSERT_EQ(::pread(fd, buf, 1 << 20, 1 << 20), 1 << 20);
  EXPECT_EQ(std::memcmp(buf, m.expected(FileIndex(0), 1 << 20, 1 << 20).data(), 1 << 20), 0);
  free(buf);
  ::close(fd);
  EXPECT_EQ(m.fs().largest_read(), 1u << 20);
}

TEST(FuseMount, BufferedReadsUseTheRaisedReadaheadAsRequestSize) {
  TORFS_REQUIRE_FUSE();
  if (geteuid() != 0) GTEST_SKIP() << "raising a mount's readahead needs root";
  MountedTorrent m({entry("t/big.bin", 16 * 1024 * 1024)}, 1024 * 1024);
  m.view().deliver_all();
  struct stat st;
  ASSERT_EQ(stat(m.mountpoint().c_str(), &st), 0);
  const std::string knob = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" +
                           std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const unsigned want_kb = fs::MountOptions{}.read_ahead_kb;
  ASSERT_GT(want_kb, 128u) << "the default should raise the kernel's 128 KiB";
  std::string value;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(knob);
    if (in >> value && value == std::to_string(want_kb)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(value, std::to_string(want_kb)) << knob;
  int err;
  EXPECT_EQ(read_path(m.path("t/big.bin"), err).size(), 16u * 1024 * 1024);
  EXPECT_EQ(m.fs().largest_read(), want_kb * 1024u);
}

TEST(FuseMount, ProgressShowsInBlocksStatfsAndXattrs) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(sample_files(), kPiece);
  // a.bin covers pieces 0..6 (100000 bytes); deliver pieces 0 and 1 only.
  m.view().deliver(PieceIndex(0), PieceIndex(2));
  struct stat st;
  ASSERT_EQ(stat(m.path("t/a.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_blocks, 2 * kPiece / 512);

  char buf[64];
  const auto a = m.path("t/a.bin");
  // Size probe, then the value.
  const ssize_t n = getxattr(a.c_str(), "user.torfs.progress", nullptr, 0);
  ASSERT_GT(n, 0);
  ASSERT_EQ(getxattr(a.c_str(), "user.torfs.progress", buf, sizeof buf), n);
  EXPECT_EQ(std::string(buf, n), "32.7");  // 32768 / 100000, rounded down
  EXPECT_EQ(getxattr(a.c_str(), "user.torfs.progress", buf, 2), -1);
  EXPECT_EQ(errno, ERANGE);
  ASSERT_GT(getxattr(a.c_str(), "user.torfs.pieces_total", buf, sizeof buf), 0);
  EXPECT_EQ(std::string(buf, getxattr(a.c_str(), "user.torfs.pieces_total", buf, sizeof buf)), "7");
  EXPECT_EQ(std::string(buf, getxattr(a.c_str(), "user.torfs.pieces_have", buf, sizeof buf)), "2");
  EXPECT_EQ(getxattr(a.c_str(), "user.torfs.info_hash", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(getxattr(a.c_str(), "user.other", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA);
  const auto empty = m.path("t/empty");
  EXPECT_EQ(std::string(buf, getxattr(empty.c_str(), "user.torfs.progress", buf, sizeof buf)),
            "100.0");

  const auto root = m.mountpoint();
  char hash[64];
  const ssize_t hn = getxattr(root.c_str(), "user.torfs.info_hash", hash, sizeof hash);
  ASSERT_EQ(hn, 40);
  EXPECT_EQ(std::string(hash, 4), "a0a1");
  const std::string total = std::to_string(m.view().metainfo().layout.num_pieces());
  EXPECT_EQ(std::string(buf, getxattr(root.c_str(), "user.torfs.pieces_total", buf, sizeof buf)),
            total);

  char names[256];
  const ssize_t ln = listxattr(root.c_str(), names, sizeof names);
  ASSERT_GT(ln, 0);
  EXPECT_EQ(listxattr(root.c_str(), nullptr, 0), ln);
  EXPECT_EQ(listxattr(root.c_str(), names, 5), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_NE(std::string(names, ln).find("user.torfs.info_hash"), std::string::npos);
  EXPECT_EQ(std::string(names, listxattr(a.c_str(), names, sizeof names)).find("info_hash"),
            std::string::npos);

  struct statvfs vfs;
  ASSERT_EQ(statvfs(root.c_str(), &vfs), 0);
  EXPECT_EQ(vfs.f_namemax, 255u);
  const std::uint64_t total_bytes = m.view().metainfo().layout.total_size();
  EXPECT_EQ(vfs.f_blocks * vfs.f_frsize, (total_bytes + 4095) / 4096 * 4096);
  EXPECT_EQ(vfs.f_bfree * vfs.f_frsize, (total_bytes - 2 * kPiece) / 4096 * 4096);

  m.view().deliver_all();
  EXPECT_EQ(std::string(buf, getxattr(root.c_str(), "user.torfs.progress", buf, sizeof buf)),
            "100.0");
  ASSERT_EQ(stat(a.c_str(), &st), 0);
  EXPECT_EQ(st.st_blocks, (100'000 + 511) / 512);
}

TEST(FuseMount, RefusesEveryWriteWithErofs) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(sample_files(), kPiece);
  const auto a = m.path("t/a.bin");
  EXPECT_EQ(::open(a.c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::open(a.c_str(), O_RDWR), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::open(m.path("t/new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::mkdir(m.path("t/newdir").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::unlink(a.c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::rmdir(m.path("t/dir").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::rename(a.c_str(), m.path("t/z").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::truncate(a.c_str(), 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::symlink("x", m.path("t/l").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::chmod(a.c_str(), 0777), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(setxattr(a.c_str(), "user.x", "1", 1, 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::access(a.c_str(), W_OK), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::access(a.c_str(), R_OK), 0);
}

TEST(FuseMount, ReadsAFileAboveFourGiBAtEveryOffset) {
  TORFS_REQUIRE_FUSE();
  constexpr std::uint64_t GiB = 1ull << 30;
  MountedTorrent m({entry("big/small", 1000), entry("big/huge.bin", 5 * GiB)}, 4 * 1024 * 1024,
                   test_options(), /*sparse=*/true);
  const std::vector<std::pair<std::uint64_t, std::string>> blocks = {
      {4 * GiB - 3, "across-the-4GiB-line"},
      {4 * GiB + 123'456'789, "deep beyond 4 GiB"},
      {5 * GiB - 9, "the end!!"}};
  for (const auto& [off, bytes] : blocks)
    m.view().write_at(FileIndex(1), off, bytes);
  m.view().deliver_all();
  const int fd = ::open(m.path("big/huge.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), 5 * GiB);
  for (const auto& [off, bytes] : blocks) {
    int err;
    EXPECT_EQ(pread_all(fd, off, bytes.size(), err), bytes) << off;
    // Zeros right before each block (sparse parts read back as zeros).
    EXPECT_EQ(pread_all(fd, off - 4, 4, err), std::string(4, '\0'));
  }
  char c;
  EXPECT_EQ(::pread(fd, &c, 1, static_cast<off_t>(5 * GiB)), 0);
  ::close(fd);
}

}  // namespace
}  // namespace torfs::testing
