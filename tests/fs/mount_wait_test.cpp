// Real FUSE mounts, reads of data that has not arrived: parking, deadlines, interrupts,
// per-handle readahead, unmount with reads parked.
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "tests/fs/mount_fixture.hpp"

namespace torfs::testing {
namespace {

using namespace std::chrono_literals;
constexpr std::uint32_t kPiece = 16384;

std::vector<FileEntry> two_files() {
  return {entry("t/a.bin", 100'000), entry("t/b.bin", 4 * 1024 * 1024)};
}

// A child process that opens `path` and blocks reading it. Exit code: 0 = read data,
// 10 + errno on failure. With `catch_sigint`, SIGINT gets a handler (no SA_RESTART) so an
// interrupted read returns EINTR instead of killing the child.
pid_t spawn_reader(const std::filesystem::path& path, off_t offset, bool direct,
                   bool catch_sigint) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: async-signal-safe calls only (the parent is multi-threaded). Drop the inherited
  // /dev/fuse descriptor first: a reader holding it would keep the FUSE connection alive
  // after the server is gone and wait on itself forever.
  syscall(SYS_close_range, 3u, ~0u, 0u);
  if (catch_sigint) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGINT, &sa, nullptr);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | (direct ? O_DIRECT : 0));
  if (fd < 0) _exit(10 + errno);
  alignas(4096) static char buf[4096];
  const ssize_t n = ::pread(fd, buf, sizeof buf, offset);
  _exit(n > 0 ? 0 : 10 + errno);
}

TEST(FuseMountWait, ReadIsParkedUntilItsPiecesArrive) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  const int fd = ::open(m.path("t/a.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::atomic<bool> finished{false};
  std::string got;
  int err = 0;
  std::thread reader([&] {
    got = pread_all(fd, 20'000, 30'000, err);
    finished = true;
  });
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(finished) << "a read of missing data must wait, not return";
  EXPECT_GE(m.fs().parked_reads(), 1u);
  m.view().deliver_all();
  reader.join();
  EXPECT_EQ(err, 0);
  EXPECT_EQ(got, m.expected(FileIndex(0), 20'000, 30'000));
  EXPECT_EQ(m.fs().parked_reads(), 0u);
  // The engine was asked for the range with this handle's reader id and a readahead window.
  const auto requests = m.view().requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_NE(requests.front().reader, 0u);
  EXPECT_GT(requests.front().deadline, std::chrono::steady_clock::now() + 30s);
  ::close(fd);
}

TEST(FuseMountWait, PiecesArrivingOnATimerAnswerTheRead) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  m.view().deliver_after(300ms, PieceIndex(0), PieceIndex(m.view().metainfo().layout.num_pieces()));
  int err;
  const std::string got = read_path(m.path("t/a.bin"), err);
  EXPECT_EQ(err, 0);
  EXPECT_EQ(got, m.expected(FileIndex(0), 0, 100'000));
}

TEST(FuseMountWait, TimeoutGivesEioWhileStatAndLsKeepWorking) {
  TORFS_REQUIRE_FUSE();
  auto options = test_options();
  options.read_timeout = 1500ms;
  MountedTorrent m(two_files(), kPiece, options);
  std::atomic<bool> finished{false};
  int err = 0;
  std::thread reader([&] {
    read_path(m.path("t/a.bin"), err);
    finished = true;
  });
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  // While the read is parked, metadata operations answer at once.
  struct stat st;
  EXPECT_EQ(stat(m.path("t/a.bin").c_str(), &st), 0);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(m.path("t")),
                          std::filesystem::directory_iterator()),
            2);
  EXPECT_FALSE(finished);
  reader.join();
  EXPECT_EQ(err, EIO);
  // The mount stays healthy: once the data is there, the same read succeeds.
  m.view().deliver_all();
  const std::string got = read_path(m.path("t/a.bin"), err);
  EXPECT_EQ(err, 0);
  EXPECT_EQ(got.size(), 100'000u);
}

TEST(FuseMountWait, SweeperAnswersWhenTheEngineMissesTheDeadline) {
  TORFS_REQUIRE_FUSE();
  auto options = test_options();
  options.read_timeout = 300ms;
  options.deadline_grace = 300ms;
  MountedTorrent m(two_files(), kPiece, options);
  m.view().ignore_deadlines(true);
  int err;
  const int fd = ::open(m.path("t/a.bin").c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0);
  pread_all(fd, 0, 4096, err);
  EXPECT_EQ(err, EIO);
  // The fs withdraws the engine wait it answered, right after the reply: allow it a moment.
  for (int i = 0; i < 200 && m.view().cancels() == 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_GE(m.view().cancels(), 1u);
  ::close(fd);
}

TEST(FuseMountWait, InterruptAnswersEintrPromptly) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);  // 60 s read timeout: only the interrupt can end it
  // O_DIRECT reads are synchronous FUSE requests, so the kernel forwards the interrupt.
  const pid_t child = spawn_reader(m.path("t/a.bin"), 0, /*direct=*/true, /*catch_sigint=*/true);
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  kill(child, SIGINT);
  int status = 0;
  ASSERT_TRUE(wait_child(child, status, 5s)) << "reader still blocked after SIGINT";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 10 + EINTR);
  EXPECT_TRUE(m.view().wait_until_waiting(0, 0ms) || m.view().waiting() == 0);
  EXPECT_EQ(m.fs().parked_reads(), 0u);
}

TEST(FuseMountWait, SigintKillsABlockedBufferedReader) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  const pid_t child = spawn_reader(m.path("t/a.bin"), 0, /*direct=*/false, /*catch_sigint=*/false);
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  kill(child, SIGINT);
  int status = 0;
  ASSERT_TRUE(wait_child(child, status, 5s)) << "reader still blocked after SIGINT";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
}

TEST(FuseMountWait, EachHandleHasItsOwnReadaheadWindow) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  const auto b = m.path("t/b.bin");
  // The first 2 MiB of b.bin are here; the rest is missing.
  const std::uint64_t b_start = 100'000;
  m.view().deliver(PieceIndex(0), PieceIndex((b_start + 2 * 1024 * 1024) / kPiece));
  const int seq = ::open(b.c_str(), O_RDONLY | O_DIRECT);
  const int seeker = ::open(b.c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(seq, 0);
  ASSERT_GE(seeker, 0);
  int err;
  for (std::uint64_t off = 0; off < 1024 * 1024; off += 64 * 1024) {
    ASSERT_EQ(pread_all(seq, off, 64 * 1024, err).size(), 64u * 1024);
  }
  // The seeker reads far into the missing part: parked with the initial window.
  std::thread t([&] { pread_all(seeker, 3 * 1024 * 1024, 4096, err); });
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  m.view().deliver_all();
  t.join();
  ::close(seq);
  ::close(seeker);

  std::map<ReaderId, std::uint64_t> last_window;
  for (const auto& r : m.view().requests())
    last_window[r.reader] = r.readahead;
  ASSERT_EQ(last_window.size(), 2u) << "one reader id per open handle";
  std::vector<std::uint64_t> windows;
  for (auto& [reader, w] : last_window)
    windows.push_back(w);
  std::sort(windows.begin(), windows.end());
  EXPECT_EQ(windows[0], 64u * 1024);    // the seeker: initial window
  EXPECT_EQ(windows[1], 1024u * 1024);  // the sequential reader: grown to the maximum
  // release() closed both readers.
  std::this_thread::sleep_for(100ms);
  const auto closed = m.view().closed_readers();
  for (auto& [reader, w] : last_window)
    EXPECT_TRUE(closed.count(reader)) << reader;
}

TEST(FuseMountWait, LazyUnmountWithAParkedReadLeavesNothingHanging) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  const pid_t child = spawn_reader(m.path("t/a.bin"), 0, false, false);
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  // The file is busy, so only a lazy unmount is possible.
  const std::string cmd = "fusermount3 -u -z '" + m.mountpoint().string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  int status = 0;
  ASSERT_TRUE(wait_child(child, status, 10s)) << "reader hung after unmount";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 10 + EIO);
  EXPECT_TRUE(m.wait_loop_ended()) << "session loop still running after unmount";
  EXPECT_FALSE(mounted_at(m.mountpoint()));
}

TEST(FuseMountWait, StopWithParkedReadsAnswersThemAndUnmounts) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  const pid_t child = spawn_reader(m.path("t/a.bin"), 0, false, false);
  ASSERT_TRUE(m.view().wait_until_waiting(1));
  m.mount().stop();  // what SIGTERM/SIGINT do in `torfs mount`
  int status = 0;
  ASSERT_TRUE(wait_child(child, status, 10s)) << "reader hung after stop";
  ASSERT_TRUE(WIFEXITED(status));
  // The parked read is answered EIO; the kernel may retry the page synchronously, and that
  // retry can meet the connection already closed (ECONNABORTED). Either way: an error, at once.
  const int code = WEXITSTATUS(status);
  EXPECT_TRUE(code == 10 + EIO || code == 10 + ECONNABORTED || code == 10 + ENOTCONN) << code;
  EXPECT_TRUE(m.wait_loop_ended());
  EXPECT_FALSE(mounted_at(m.mountpoint()));
}

TEST(FuseMountWait, PlainUnmountEndsTheSession) {
  TORFS_REQUIRE_FUSE();
  MountedTorrent m(two_files(), kPiece);
  struct stat st;
  ASSERT_EQ(stat(m.path("t/a.bin").c_str(), &st), 0);
  const std::string cmd = "fusermount3 -u '" + m.mountpoint().string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(m.wait_loop_ended());
  EXPECT_FALSE(mounted_at(m.mountpoint()));
}

}  // namespace
}  // namespace torfs::testing
