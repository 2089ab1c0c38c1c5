// Directory mounts: one TorrentFs serving several fake torrents ("volumes") under a synthetic
// root, with torrents added and removed while mounted.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <atomic>
#include <set>

#include "tests/fs/mount_fixture.hpp"

namespace torfs::testing {
namespace {

using namespace std::chrono_literals;
constexpr std::uint32_t kPiece = 16384;

// A mounted multi-mode TorrentFs; views are created with add().
class MultiMount {
 public:
  explicit MultiMount(fs::FsOptions options = test_options())
      : fs_(std::move(options)), mount_(fs_, tmp_.path() / "mnt") {}

  std::shared_ptr<FakeTorrentView> make_view(std::vector<FileEntry> files, std::uint8_t seed) {
    auto view = std::make_shared<FakeTorrentView>(
        tmp_.path() / ("data" + std::to_string(next_data_++)), std::move(files), kPiece);
    view->set_info_hash_seed(seed);
    return view;
  }
  // Adds a torrent under its metainfo name; returns the visible name.
  std::string add(const std::shared_ptr<FakeTorrentView>& view) {
    auto name = fs_.add_torrent(view->metainfo().name, view);
    if (!name.ok()) throw std::runtime_error(name.error().message);
    return *name;
  }

  fs::TorrentFs& fs() { return fs_; }
  std::filesystem::path path(const std::string& rel) const { return mount_.mountpoint() / rel; }
  const std::filesystem::path& mountpoint() const { return mount_.mountpoint(); }

 private:
  TempDir tmp_;
  fs::TorrentFs fs_;
  LoopingMount mount_;
  int next_data_ = 0;
};

std::string expected(const FakeTorrentView& view, FileIndex f, std::uint64_t off,
                     std::uint64_t len) {
  return expected_bytes(view, f, off, len);
}

std::set<std::string> list_dir(const std::filesystem::path& p) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(p))
    names.insert(e.path().filename().string());
  return names;
}

std::vector<FileEntry> alpha() {
  return {entry("alpha/a.bin", 100'000), entry("alpha/dir/b.bin", 40'000)};
}
std::vector<FileEntry> alpha_other() {
  return {entry("alpha/x.bin", 70'000)};
}
std::vector<FileEntry> movie() {
  return {entry("movie.mkv", 300'000)};
}

TEST(MultiMount, EachTorrentIsADirectoryAndNameCollisionsGetANumber) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  EXPECT_TRUE(list_dir(m.mountpoint()).empty());
  auto a = m.make_view(alpha(), 0x10);
  auto b = m.make_view(movie(), 0x20);
  auto c = m.make_view(alpha_other(), 0x30);
  EXPECT_EQ(m.add(a), "alpha");
  EXPECT_EQ(m.add(b), "movie.mkv");
  EXPECT_EQ(m.add(c), "alpha (2)");
  for (auto* v : {a.get(), b.get(), c.get()})
    v->deliver_all();

  EXPECT_EQ(list_dir(m.mountpoint()), (std::set<std::string>{"alpha", "alpha (2)", "movie.mkv"}));
  // A multi-file torrent's files sit directly in its directory (no alpha/alpha/...).
  EXPECT_EQ(list_dir(m.path("alpha")), (std::set<std::string>{"a.bin", "dir"}));
  EXPECT_EQ(list_dir(m.path("alpha/dir")), (std::set<std::string>{"b.bin"}));
  EXPECT_EQ(list_dir(m.path("alpha (2)")), (std::set<std::string>{"x.bin"}));
  EXPECT_EQ(list_dir(m.path("movie.mkv")), (std::set<std::string>{"movie.mkv"}));

  int err;
  EXPECT_EQ(read_path(m.path("alpha/a.bin"), err), expected(*a, FileIndex(0), 0, 100'000));
  EXPECT_EQ(read_path(m.path("alpha/dir/b.bin"), err), expected(*a, FileIndex(1), 0, 40'000));
  EXPECT_EQ(read_path(m.path("alpha (2)/x.bin"), err), expected(*c, FileIndex(0), 0, 70'000));
  EXPECT_EQ(read_path(m.path("movie.mkv/movie.mkv"), err), expected(*b, FileIndex(0), 0, 300'000));
  EXPECT_EQ(err, 0);
  // Replies from disk pin their range (acquire_read) and unpin it again.
  EXPECT_GT(b->acquired(), 0u);
  EXPECT_EQ(b->acquired(), b->released());

  struct stat root, sa, sc;
  ASSERT_EQ(stat(m.mountpoint().c_str(), &root), 0);
  EXPECT_TRUE(S_ISDIR(root.st_mode));
  EXPECT_EQ(root.st_mode & 07777, 0555u);
  EXPECT_EQ(root.st_nlink, 5u);  // 2 + three volumes
  ASSERT_EQ(stat(m.path("alpha/a.bin").c_str(), &sa), 0);
  ASSERT_EQ(stat(m.path("alpha (2)/x.bin").c_str(), &sc), 0);
  EXPECT_NE(sa.st_ino, sc.st_ino);
  EXPECT_EQ(sc.st_size, 70'000);

  char hash[64] = {};
  ASSERT_EQ(getxattr(m.path("alpha (2)").c_str(), "user.torfs.info_hash", hash, sizeof hash), 40);
  EXPECT_EQ(std::string(hash, 4), "3031");
  EXPECT_LT(getxattr(m.mountpoint().c_str(), "user.torfs.info_hash", hash, sizeof hash), 0);

  struct statvfs vfs;
  ASSERT_EQ(statvfs(m.mountpoint().c_str(), &vfs), 0);
  const std::uint64_t total = 140'000 + 300'000 + 70'000;
  EXPECT_EQ(vfs.f_blocks, (total + vfs.f_frsize - 1) / vfs.f_frsize);
  EXPECT_EQ(vfs.f_bfree, 0u);  // everything verified
}

TEST(MultiMount, UnsafeOrEmptyNamesAreReplaced) {
  fs::TorrentFs fs(test_options());
  TempDir tmp;
  auto v = std::make_shared<FakeTorrentView>(tmp.path() / "d", movie(), kPiece);
  v->set_info_hash_seed(0x01);
  EXPECT_EQ(fs.add_torrent("a/b", v).value(), "a_b");
  EXPECT_EQ(fs.add_torrent("..", v).value(), "0102030405060708090a0b0c0d0e0f1011121314");
  EXPECT_EQ(fs.add_torrent("", v).value(), "0102030405060708090a0b0c0d0e0f1011121314 (2)");
  EXPECT_EQ(fs.add_torrent("a/b", v).value(), "a_b (2)");
  EXPECT_EQ(fs.volumes().size(), 4u);
  EXPECT_TRUE(fs.remove_torrent("a_b"));
  EXPECT_FALSE(fs.remove_torrent("a_b"));
  EXPECT_EQ(fs.add_torrent("a/b", v).value(), "a_b");  // the name is free again

  TempDir tmp2;
  FakeTorrentView single(tmp2.path() / "d", movie(), kPiece);
  fs::TorrentFs one(single, test_options());
  EXPECT_FALSE(one.add_torrent("x", v).ok());
  ASSERT_EQ(one.volumes().size(), 1u);
  EXPECT_EQ(one.volumes()[0].name, "movie.mkv");
}

TEST(MultiMount, TorrentsAddedWhileMountedAppearAtOnce) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  m.add(m.make_view(alpha(), 0x10));
  struct stat st;
  // The kernel now holds a negative entry for the name; adding must drop it.
  ASSERT_NE(stat(m.path("movie.mkv").c_str(), &st), 0);
  EXPECT_EQ(list_dir(m.mountpoint()), (std::set<std::string>{"alpha"}));
  auto b = m.make_view(movie(), 0x20);
  EXPECT_EQ(m.add(b), "movie.mkv");
  EXPECT_EQ(list_dir(m.mountpoint()), (std::set<std::string>{"alpha", "movie.mkv"}));
  ASSERT_EQ(stat(m.path("movie.mkv/movie.mkv").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 300'000);
  b->deliver_all();
  int err;
  EXPECT_EQ(read_path(m.path("movie.mkv/movie.mkv"), err), expected(*b, FileIndex(0), 0, 300'000));
}

TEST(MultiMount, ListingsLongerThanOneReaddirBufferAreComplete) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  auto v = m.make_view(movie(), 0x20);
  std::set<std::string> want;
  for (int i = 0; i < 300; ++i)
    want.insert(m.add(v));
  ASSERT_EQ(want.size(), 300u);
  EXPECT_TRUE(want.count("movie.mkv (300)"));
  EXPECT_EQ(list_dir(m.mountpoint()), want);
  // Removals between two listings: the rest is listed exactly once.
  for (int i = 2; i <= 300; i += 2) {
    const std::string name = "movie.mkv (" + std::to_string(i) + ")";
    ASSERT_TRUE(m.fs().remove_torrent(name));
    want.erase(name);
  }
  EXPECT_EQ(list_dir(m.mountpoint()), want);
  struct stat st;
  ASSERT_EQ(stat(m.mountpoint().c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u + want.size());
}

TEST(MultiMount, RemovalWaitsForOpenHandlesAndLeavesOtherReadersAlone) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  auto a = m.make_view(alpha(), 0x10);
  auto b = m.make_view(movie(), 0x20);
  m.add(a);
  m.add(b);

  // A reader of b, parked on missing data while a is removed.
  const int fb = ::open(m.path("movie.mkv/movie.mkv").c_str(), O_RDONLY);
  ASSERT_GE(fb, 0);
  std::string got_b;
  int err_b = -1;
  std::thread reader([&] { got_b = pread_all(fb, 0, 300'000, err_b); });
  ASSERT_TRUE(b->wait_until_waiting(1));

  // An open handle of a, with a read of it parked too.
  const int fa = ::open(m.path("alpha/a.bin").c_str(), O_RDONLY);
  ASSERT_GE(fa, 0);
  std::string got_a;
  int err_a = -1;
  std::thread reader_a([&] { got_a = pread_all(fa, 10'000, 50'000, err_a); });
  ASSERT_TRUE(a->wait_until_waiting(1));

  std::atomic<int> released{0};
  ASSERT_TRUE(m.fs().remove_torrent("alpha", [&] { ++released; }));
  EXPECT_EQ(list_dir(m.mountpoint()), (std::set<std::string>{"movie.mkv"}));
  struct stat st;
  EXPECT_NE(stat(m.path("alpha/a.bin").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);

  // Both parked reads complete with the right bytes.
  a->deliver_all();
  b->deliver_all();
  reader_a.join();
  reader.join();
  EXPECT_EQ(err_a, 0);
  EXPECT_EQ(got_a, expected(*a, FileIndex(0), 10'000, 50'000));
  EXPECT_EQ(err_b, 0);
  EXPECT_EQ(got_b, expected(*b, FileIndex(0), 0, 300'000));

  // The removed torrent's handle still reads and stats.
  int err;
  EXPECT_EQ(pread_all(fa, 90'000, 20'000, err), expected(*a, FileIndex(0), 90'000, 20'000));
  EXPECT_EQ(err, 0);
  ASSERT_EQ(fstat(fa, &st), 0);
  EXPECT_EQ(st.st_size, 100'000);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(released, 0) << "released while a handle is still open";

  ::close(fa);
  for (int i = 0; i < 500 && released == 0; ++i)
    std::this_thread::sleep_for(10ms);  // FUSE sends RELEASE after close() returned
  EXPECT_EQ(released, 1);
  ::close(fb);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(released, 1);
  EXPECT_EQ(read_path(m.path("movie.mkv/movie.mkv"), err), got_b);
}

TEST(MultiMount, RemovalWithNothingOpenReleasesAtOnce) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  m.add(m.make_view(alpha(), 0x10));
  int released = 0;
  ASSERT_TRUE(m.fs().remove_torrent("alpha", [&] { ++released; }));
  EXPECT_EQ(released, 1);
  EXPECT_FALSE(m.fs().remove_torrent("alpha", [&] { ++released; }));
  EXPECT_EQ(released, 1);
}

TEST(MultiMount, StaleInodesOfRemovedTorrentsAnswerEnoentAndAreNeverReused) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  auto a = m.make_view(alpha(), 0x10);
  m.add(a);
  struct stat before;
  ASSERT_EQ(stat(m.path("alpha/dir").c_str(), &before), 0);
  // A directory opened but not read yet: its next READDIR names the stale inode. (Through
  // getdents64 itself: glibc's readdir() turns ENOENT into a quiet end of directory.)
  const int dir = ::open(m.path("alpha/dir").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  ASSERT_TRUE(m.fs().remove_torrent("alpha"));
  alignas(8) char buf[4096];
  EXPECT_EQ(syscall(SYS_getdents64, dir, buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENOENT);
  ::close(dir);

  // Same torrent, same name again: new inode numbers.
  EXPECT_EQ(m.add(a), "alpha");
  struct stat after;
  ASSERT_EQ(stat(m.path("alpha/dir").c_str(), &after), 0);
  EXPECT_GT(after.st_ino, before.st_ino);
  EXPECT_EQ(list_dir(m.path("alpha/dir")), (std::set<std::string>{"b.bin"}));
}

TEST(MultiMount, AddAndRemoveRaceWithListingsAndReads) {
  TORFS_REQUIRE_FUSE();
  MultiMount m;
  auto steady = m.make_view(movie(), 0x20);
  steady->deliver_all();
  m.add(steady);
  auto churn = m.make_view(alpha(), 0x10);
  churn->deliver_all();
  std::atomic<bool> stop{false};
  std::atomic<int> released{0};
  int cycles = 0;
  std::thread changer([&] {
    for (; !stop; ++cycles) {
      const std::string name = m.add(churn);
      m.fs().remove_torrent(name, [&] { ++released; });
    }
  });
  const std::string want = expected(*steady, FileIndex(0), 0, 300'000);
  for (int i = 0; i < 50; ++i) {
    int err;
    EXPECT_EQ(read_path(m.path("movie.mkv/movie.mkv"), err), want);
    EXPECT_EQ(err, 0);
    // Listings see the steady torrent every time, whatever the other one is doing.
    EXPECT_EQ(list_dir(m.mountpoint()).count("movie.mkv"), 1u);
    // Reading the churning torrent may fail (it comes and goes) but never hangs or crashes.
    read_path(m.path("alpha/a.bin"), err);
  }
  stop = true;
  changer.join();
  EXPECT_GT(cycles, 0);
  for (int i = 0; i < 500 && released < cycles; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(released, cycles);  // once per removal, handles or not
  EXPECT_EQ(list_dir(m.mountpoint()), (std::set<std::string>{"movie.mkv"}));
}

}  // namespace
}  // namespace torfs::testing
