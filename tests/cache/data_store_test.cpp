#include "cache/data_store.hpp"
#include "tests/common/test_util.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace torfs {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t GiB = 1ull << 30;

using testing::entry;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + seed * 7919) >> 3);
  return s;
}

class DataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::make_temp_dir("torfs-data");
    ASSERT_FALSE(base_.empty());
    root_ = base_ / "data";
    // 10 + 0 + 6 (pad) + 25 = 41 bytes, 16-byte pieces.
    layout_ = make(
        {entry("t/a", 10), entry("t/empty", 0), entry("t/.pad/6", 6, true), entry("t/sub/c", 25)},
        16);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(base_);
  }

  static FileLayout make(std::vector<FileEntry> files, std::uint32_t piece_length) {
    return FileLayout::create(std::move(files), piece_length).value();
  }
  void open(DataStoreOptions options = {}) {
    store_.reset();
    auto s = DataStore::open(root_, layout_, std::move(options));
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  void write(std::uint64_t offset, std::string_view data) {
    auto r = store_->write(offset, data);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  std::string read(std::uint64_t offset, std::size_t n) {
    std::string out(n, '?');
    auto r = store_->read(offset, out);
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
    out.resize(r ? *r : 0);
    return out;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  fs::path base_, root_;
  FileLayout layout_;
  std::unique_ptr<DataStore> store_;
};

TEST_F(DataStoreTest, WriteThenReadAcrossFilesAndPad) {
  open();
  const std::string all = pattern(41, 1);
  write(0, all);
  std::string expected = all;
  std::fill(expected.begin() + 10, expected.begin() + 16, '\0');  // pad bytes read as zeros
  EXPECT_EQ(read(0, 41), expected);
  EXPECT_EQ(read(8, 12), expected.substr(8, 12));
  EXPECT_EQ(read(30, 100), expected.substr(30));  // clipped at the end
  EXPECT_EQ(read(41, 5), "");
  EXPECT_EQ(slurp(root_ / "t/a"), all.substr(0, 10));
  EXPECT_EQ(slurp(root_ / "t/sub/c"), all.substr(16));
  EXPECT_FALSE(fs::exists(root_ / "t/.pad"));  // pad files are never stored
}

TEST_F(DataStoreTest, FilesAreCreatedOnFirstWriteAtFullSparseSize) {
  open();
  EXPECT_TRUE(fs::is_directory(root_));
  EXPECT_FALSE(fs::exists(root_ / "t"));
  EXPECT_EQ(store_->file_fd(FileIndex(0)), -1);
  EXPECT_EQ(read(0, 10), std::string(10, '\0'));  // absent file reads as zeros
  write(20, "xyz");
  EXPECT_FALSE(fs::exists(root_ / "t/a"));
  EXPECT_EQ(fs::file_size(root_ / "t/sub/c"), 25u);
  EXPECT_GE(store_->file_fd(FileIndex(3)), 0);
  EXPECT_EQ(store_->file_fd(FileIndex(0)), -1);
  EXPECT_EQ(store_->file_fd(FileIndex(2)), -1);  // pad
  EXPECT_EQ(read(16, 8), std::string("\0\0\0\0xyz\0", 8));
  EXPECT_FALSE(fs::exists(root_ / "t/empty"));
  ASSERT_TRUE(store_->create_empty_files().ok());
  EXPECT_TRUE(fs::is_regular_file(root_ / "t/empty"));
  EXPECT_EQ(fs::file_size(root_ / "t/empty"), 0u);
}

TEST_F(DataStoreTest, FileFdReadsWhatWasWritten) {
  open();
  write(16, "hello");
  const int fd = store_->file_fd(FileIndex(3));
  ASSERT_GE(fd, 0);
  char buf[5];
  ASSERT_EQ(::pread(fd, buf, 5, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(store_->file_fd(FileIndex(3)), fd);  // stable while the store lives
}

TEST_F(DataStoreTest, ReopenKeepsDataAndReportsFileState) {
  open();
  const std::string all = pattern(41, 2);
  write(0, all);
  ASSERT_TRUE(store_->sync().ok());
  auto before = store_->file_state(FileIndex(3));
  open();  // a new store over the same directory
  EXPECT_EQ(read(0, 10), all.substr(0, 10));
  EXPECT_EQ(read(16, 25), all.substr(16));
  auto after = store_->file_state(FileIndex(3));
  EXPECT_TRUE(after.exists);
  EXPECT_EQ(after.size, 25u);
  EXPECT_EQ(after.mtime_ns, before.mtime_ns);
  EXPECT_FALSE(store_->file_state(FileIndex(1)).exists);
  EXPECT_FALSE(store_->file_state(FileIndex(2)).exists);
}

TEST_F(DataStoreTest, WrongSizeIsLeftAloneUntilWritten) {
  fs::create_directories(root_ / "t");
  { std::ofstream(root_ / "t/a", std::ios::binary) << "0123"; }  // 4 of 10 bytes
  open();
  auto state = store_->file_state(FileIndex(0));
  EXPECT_TRUE(state.exists);
  EXPECT_EQ(state.size, 4u);
  EXPECT_EQ(read(0, 10), std::string("0123\0\0\0\0\0\0", 10));  // short file: zeros after
  EXPECT_EQ(fs::file_size(root_ / "t/a"), 4u);
  write(8, "zz");
  EXPECT_EQ(fs::file_size(root_ / "t/a"), 10u);
  EXPECT_EQ(read(0, 10), std::string("0123\0\0\0\0zz", 10));
}

TEST_F(DataStoreTest, RejectsWritesPastTheEnd) {
  open();
  EXPECT_FALSE(store_->write(40, "ab").ok());
  EXPECT_FALSE(store_->write(~0ull, "a").ok());
  EXPECT_TRUE(store_->write(41, "").ok());
}

TEST_F(DataStoreTest, RefusesSymlinkPlantedAsFileOrDirectory) {
  const fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  fs::create_directories(root_ / "t");
  fs::create_directory_symlink(outside, root_ / "t/sub");
  fs::create_symlink(outside / "a", root_ / "t/a");
  open();
  auto r = store_->write(0, "0123456789");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("refusing to follow symlink " + (root_ / "t/a").string()),
            std::string::npos)
      << r.error().message;
  r = store_->write(20, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find((root_ / "t/sub").string()), std::string::npos);
  EXPECT_TRUE(fs::is_empty(outside));
  std::string buf(4, '\0');
  EXPECT_FALSE(store_->read(0, buf).ok());
  EXPECT_EQ(store_->file_fd(FileIndex(0)), -1);
  EXPECT_FALSE(store_->file_state(FileIndex(0)).exists);
}

TEST_F(DataStoreTest, LargeOffsetsBeyondFiveGiB) {
  layout_ = make({entry("big/head", 100), entry("big/huge", 5 * GiB + (1 << 20))}, 1 << 20);
  open();
  const std::string block = pattern(70000, 3);
  const std::uint64_t off = 5 * GiB + 12345;
  write(off, block);
  write(4 * GiB - 10, "straddles-4GiB");
  EXPECT_EQ(read(off, block.size()), block);
  EXPECT_EQ(read(4 * GiB - 10, 14), "straddles-4GiB");
  EXPECT_EQ(read(2 * GiB, 8), std::string(8, '\0'));
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "big/huge").c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), 5 * GiB + (1 << 20));
  EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, 16u << 20);  // sparse
  EXPECT_FALSE(fs::exists(root_ / "big/head"));
  ASSERT_TRUE(store_->sync().ok());
}

TEST_F(DataStoreTest, ConcurrentWritersAndReaders) {
  constexpr std::uint32_t kPiece = 4096, kPieces = 256;
  layout_ = make({entry("c/x", 300000), entry("c/y", 1), entry("c/z", kPiece * kPieces - 300001)},
                 kPiece);
  open();
  std::atomic<std::uint32_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (std::uint32_t p; (p = next.fetch_add(1)) < kPieces;) {
      const std::string data = pattern(kPiece, p);
      if (!store_->write(std::uint64_t{p} * kPiece, data).ok()) failed = true;
      std::string back(kPiece, '\0');
      auto n = store_->read(std::uint64_t{p} * kPiece, back);
      if (!n || *n != kPiece || back != data) failed = true;
      if (p % 16 == 0 && !store_->sync().ok()) failed = true;
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back(worker);
  for (auto& t : threads)
    t.join();
  EXPECT_FALSE(failed);
  ASSERT_TRUE(store_->sync().ok());
  open();
  for (std::uint32_t p = 0; p < kPieces; ++p) {
    ASSERT_EQ(read(std::uint64_t{p} * kPiece, kPiece), pattern(kPiece, p)) << "piece " << p;
  }
}

TEST_F(DataStoreTest, FaultHookFailsWritesAndSyncsUntilCleared) {
  std::atomic<bool> fail{true};
  DataStoreOptions options;
  options.fault_hook = [&](IoOp op, FileIndex, std::uint64_t, std::size_t) -> Result<void> {
    if (fail)
      return make_error(op == IoOp::write ? std::errc::no_space_on_device : std::errc::io_error,
                        "injected");
    return {};
  };
  open(std::move(options));
  auto r = store_->write(0, "abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::no_space_on_device);
  fail = false;
  write(0, "abc");
  fail = true;
  EXPECT_FALSE(store_->sync().ok());
  fail = false;
  EXPECT_TRUE(store_->sync().ok());  // the failed file stayed marked and was retried
  EXPECT_EQ(read(0, 3), "abc");
}

TEST_F(DataStoreTest, ReadOnlyStoreNeverWrites) {
  open();
  write(0, "0123456789");
  open(DataStoreOptions{.read_only = true, .fault_hook = {}});
  EXPECT_EQ(read(0, 10), "0123456789");
  auto r = store_->write(0, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::read_only_file_system);
  EXPECT_FALSE(store_->create_empty_files().ok());
  store_.reset();
  EXPECT_FALSE(
      DataStore::open(base_ / "nope", layout_, {.read_only = true, .fault_hook = {}}).ok());
  EXPECT_FALSE(fs::exists(base_ / "nope"));
}

TEST_F(DataStoreTest, DiskFullOnSmallTmpfsIsAClearError) {
  const fs::path mnt = base_ / "tiny";
  fs::create_directories(mnt);
  if (::geteuid() != 0 || ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "!!! cannot mount a tmpfs (needs root): disk-full test SKIPPED";
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  root_ = mnt / "data";
  layout_ = make({entry("f/big", 4 << 20)}, 1 << 16);
  open();
  const std::string chunk = pattern(64 << 10, 9);
  Result<void> r;
  std::uint64_t off = 0;
  for (; off < (4u << 20) && r.ok(); off += chunk.size())
    r = store_->write(off, chunk);
  ASSERT_FALSE(r.ok()) << "a 256 KiB tmpfs took 4 MiB";
  EXPECT_EQ(r.error().code, std::errc::no_space_on_device) << r.error().message;
  EXPECT_NE(r.error().message.find((root_ / "f/big").string()), std::string::npos);
  EXPECT_EQ(read(0, chunk.size()), chunk);  // what was written is still served
}

}  // namespace
}  // namespace torfs
