#include "cache/safe_fs.hpp"
#include "tests/common/test_util.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace torfs {
namespace {

namespace fs = std::filesystem;

class SafeFs : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::make_temp_dir("torfs-safefs");
    ASSERT_FALSE(base_.empty());
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    fs::create_directories(root_);
    fs::create_directories(outside_);
    auto fd = safe_fs::open_root_dir(root_, false, safe_fs::kDataDirMode);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    root_fd_ = std::move(*fd);
  }
  void TearDown() override { fs::remove_all(base_); }

  Result<UniqueFd> create_below(const std::string& rel) {
    return safe_fs::open_file_below(root_fd_.get(), root_, rel, O_RDWR, true);
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static bool refused_symlink(const Error& e, const fs::path& p) {
    return e.message.find("refusing to follow symlink") != std::string::npos &&
           e.message.find(p.string()) != std::string::npos;
  }

  fs::path base_, root_, outside_;
  UniqueFd root_fd_;
};

TEST_F(SafeFs, SplitRelativeAcceptsPlainPaths) {
  auto parts = safe_fs::split_relative("name/dir/file.txt");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(*parts, (std::vector<std::string_view>{"name", "dir", "file.txt"}));
}

TEST_F(SafeFs, SplitRelativeRejectsUnsafePaths) {
  for (std::string bad : {"", "/etc/passwd", "a//b", "a/../b", "..", ".", "a/.", "a/", "./a"}) {
    auto parts = safe_fs::split_relative(bad);
    EXPECT_FALSE(parts.ok()) << "accepted '" << bad << "'";
  }
  EXPECT_FALSE(safe_fs::split_relative(std::string("a\0b", 3)).ok());
}

TEST_F(SafeFs, CreatesDirectoriesAndFileBelowRoot) {
  auto fd = create_below("t/sub/f.bin");
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  ASSERT_EQ(::write(fd->get(), "hello", 5), 5);
  EXPECT_EQ(slurp(root_ / "t/sub/f.bin"), "hello");
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "t/sub/f.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 022, 0u);  // 0644 (minus umask): never group/other writable
  EXPECT_EQ(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  auto again = safe_fs::open_file_below(root_fd_.get(), root_, "t/sub/f.bin", O_RDONLY, false);
  ASSERT_TRUE(again.ok());
  auto missing = safe_fs::open_file_below(root_fd_.get(), root_, "t/nope", O_RDONLY, false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
  EXPECT_FALSE(fs::exists(root_ / "t/nope"));
}

TEST_F(SafeFs, DotDotIsRejectedBeforeTouchingTheDisk) {
  auto fd = create_below("../outside/evil");
  ASSERT_FALSE(fd.ok());
  EXPECT_FALSE(fs::exists(outside_ / "evil"));
  EXPECT_FALSE(create_below("/tmp/evil").ok());
  EXPECT_FALSE(safe_fs::open_dir_below(root_fd_.get(), root_, "a/../..", true).ok());
}

TEST_F(SafeFs, RefusesSymlinkPlantedAsDirectoryComponent) {
  fs::create_directories(root_ / "t");
  fs::create_directory_symlink(outside_, root_ / "t/sub");
  auto fd = create_below("t/sub/f.bin");
  ASSERT_FALSE(fd.ok());
  EXPECT_TRUE(refused_symlink(fd.error(), root_ / "t/sub")) << fd.error().message;
  EXPECT_EQ(fd.error().code, std::errc::too_many_symbolic_link_levels);
  EXPECT_TRUE(fs::is_empty(outside_));
  auto st = safe_fs::stat_below(root_fd_.get(), root_, "t/sub/f.bin");
  EXPECT_FALSE(st.ok());
}

TEST_F(SafeFs, RefusesSymlinkPlantedAsTheFile) {
  { std::ofstream(outside_ / "victim") << "precious"; }
  fs::create_directories(root_ / "t");
  fs::create_symlink(outside_ / "victim", root_ / "t/f.bin");
  fs::create_symlink(outside_ / "not-yet", root_ / "t/dangling");
  for (const char* rel : {"t/f.bin", "t/dangling"}) {
    auto fd = create_below(rel);
    ASSERT_FALSE(fd.ok()) << rel;
    EXPECT_TRUE(refused_symlink(fd.error(), root_ / rel)) << fd.error().message;
  }
  EXPECT_EQ(slurp(outside_ / "victim"), "precious");
  EXPECT_FALSE(fs::exists(outside_ / "not-yet"));
  EXPECT_FALSE(safe_fs::stat_below(root_fd_.get(), root_, "t/f.bin").ok());
}

TEST_F(SafeFs, RefusesNonRegularFilesWithoutBlocking) {
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0644), 0);
  auto fd = safe_fs::open_file_below(root_fd_.get(), root_, "fifo", O_RDONLY, false);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("not a regular file"), std::string::npos);
  fs::create_directories(root_ / "dir");
  EXPECT_FALSE(safe_fs::open_file_below(root_fd_.get(), root_, "dir", O_RDWR, true).ok());
}

TEST_F(SafeFs, StatBelowReportsAbsentFiles) {
  auto st = safe_fs::stat_below(root_fd_.get(), root_, "no/such/file");
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->has_value());
  ASSERT_TRUE(create_below("x").ok());
  st = safe_fs::stat_below(root_fd_.get(), root_, "x");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->has_value());
}

TEST_F(SafeFs, EnsurePrivateDirCreatesParentsWith0700) {
  const fs::path dir = base_ / "home/.local/share/torfs";
  ASSERT_TRUE(safe_fs::ensure_private_dir(dir).ok());
  for (fs::path p : {dir, dir.parent_path(), base_ / "home"}) {
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << p;
  }
  EXPECT_TRUE(safe_fs::ensure_private_dir(dir).ok());  // idempotent
}

TEST_F(SafeFs, EnsurePrivateDirRefusesSymlinkAsTheDir) {
  fs::create_directories(base_ / "state");
  fs::create_directory_symlink(outside_, base_ / "state/torfs");
  auto r = safe_fs::ensure_private_dir(base_ / "state/torfs");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(refused_symlink(r.error(), base_ / "state/torfs")) << r.error().message;
}

TEST_F(SafeFs, EnsurePrivateDirRefusesGroupWritableDir) {
  fs::create_directories(base_ / "shared");
  ::chmod((base_ / "shared").c_str(), 0770);
  auto r = safe_fs::ensure_private_dir(base_ / "shared");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("writable by group or others"), std::string::npos);
}

TEST_F(SafeFs, EnsurePrivateDirRefusesSymlinkParentInWorldWritableDir) {
  // /tmp-like but without the sticky bit: anyone could have replaced "state" by a symlink.
  const fs::path open_dir = base_ / "open";
  fs::create_directories(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  fs::create_directory_symlink(outside_, open_dir / "state");
  auto r = safe_fs::ensure_private_dir(open_dir / "state/torfs");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(refused_symlink(r.error(), open_dir / "state")) << r.error().message;
  EXPECT_TRUE(fs::is_empty(outside_));
}

TEST_F(SafeFs, EnsurePrivateDirFollowsOwnSymlinkInPrivateParent) {
  // Policy: a symlink only we (or root) could have made is followed (/home -> /var/home).
  fs::create_directory_symlink(outside_, base_ / "mine");
  ASSERT_TRUE(safe_fs::ensure_private_dir(base_ / "mine/torfs").ok());
  EXPECT_TRUE(fs::is_directory(outside_ / "torfs"));
}

TEST_F(SafeFs, RootPolicyRefusesSymlinkOwnedByAnotherUser) {
  fs::create_directory_symlink(outside_, base_ / "theirs");
  if (::lchown((base_ / "theirs").c_str(), 65534, 65534) != 0) {
    GTEST_SKIP() << "!!! cannot chown a symlink to another user (not root): test SKIPPED";
  }
  auto r = safe_fs::ensure_private_dir(base_ / "theirs/torfs");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(refused_symlink(r.error(), base_ / "theirs")) << r.error().message;
  auto root = safe_fs::open_root_dir(base_ / "theirs", true, safe_fs::kDataDirMode);
  EXPECT_FALSE(root.ok());
}

TEST_F(SafeFs, EnsurePrivateDirRefusesDirOwnedByAnotherUser) {
  const fs::path dir = base_ / "other";
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  if (::chown(dir.c_str(), 65534, 65534) != 0) {
    GTEST_SKIP() << "!!! cannot chown a directory to another user (not root): test SKIPPED";
  }
  auto r = safe_fs::ensure_private_dir(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("owned by uid 65534"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace torfs
