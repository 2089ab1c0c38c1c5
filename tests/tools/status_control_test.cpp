#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "tests/common/test_util.hpp"
#include "tools/control_server.hpp"

namespace torfs::tools {
namespace {

namespace stdfs = std::filesystem;

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::make_temp_dir("torfs-ctl");
    ASSERT_FALSE(base_.empty());
    dir_ = base_ / "torfs";
  }
  void TearDown() override { stdfs::remove_all(base_); }

  mode_t mode(const stdfs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode;
  }

  stdfs::path base_, dir_;
};

TEST_F(ControlTest, ControlDirFollowsXdgRuntimeDir) {
  const char* old = std::getenv("XDG_RUNTIME_DIR");
  const std::string saved = old ? old : "";
  ::setenv("XDG_RUNTIME_DIR", base_.c_str(), 1);
  EXPECT_EQ(control_dir(), dir_);
  ::setenv("XDG_RUNTIME_DIR", "relative/dir", 1);  // not absolute: ignored
  EXPECT_NE(control_dir(), stdfs::path("relative/dir/torfs"));
  if (old) {
    ::setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
  } else {
    ::unsetenv("XDG_RUNTIME_DIR");
  }
}

TEST_F(ControlTest, DirectoryIsCreatedPrivateAndTightened) {
  ASSERT_TRUE(ensure_control_dir(dir_));
  EXPECT_EQ(mode(dir_) & 07777, 0700u);
  ASSERT_EQ(::chmod(dir_.c_str(), 0750), 0);
  EXPECT_FALSE(check_control_dir(dir_)) << "the client does not accept a loose directory";
  ASSERT_TRUE(ensure_control_dir(dir_));
  EXPECT_EQ(mode(dir_) & 07777, 0700u);
  EXPECT_TRUE(check_control_dir(dir_));
}

TEST_F(ControlTest, SymlinkedDirectoryIsRefused) {
  const stdfs::path real = base_ / "elsewhere";
  stdfs::create_directory(real);
  ::chmod(real.c_str(), 0700);
  stdfs::create_directory_symlink(real, dir_);
  auto r = ensure_control_dir(dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("symlink"), std::string::npos) << r.error().message;
  auto c = check_control_dir(dir_);
  ASSERT_FALSE(c);
  EXPECT_FALSE(ControlServer::start(
      "/mnt/x", [] { return std::string("{}"); }, dir_));
}

TEST_F(ControlTest, DirectoryOwnedBySomeoneElseIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  stdfs::create_directory(dir_);
  ::chmod(dir_.c_str(), 0700);
  ASSERT_EQ(::chown(dir_.c_str(), 12345, 12345), 0);
  auto r = ensure_control_dir(dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("owned by uid 12345"), std::string::npos) << r.error().message;
}

TEST_F(ControlTest, SocketNamesAreStablePerMountpoint) {
  EXPECT_EQ(control_socket_path(dir_, "/mnt/a"), control_socket_path(dir_, "/mnt/a"));
  EXPECT_NE(control_socket_path(dir_, "/mnt/a"), control_socket_path(dir_, "/mnt/b"));
  EXPECT_EQ(control_socket_path(dir_, "/mnt/a").parent_path(), dir_);
  EXPECT_EQ(control_socket_path(dir_, "/mnt/a").extension(), ".sock");
}

TEST_F(ControlTest, ServesStatusOwnerOnlyAndUnlinksOnStop) {
  std::atomic<int> calls{0};
  auto server = ControlServer::start(
      "/mnt/a", [&] { return "{\"n\":" + std::to_string(++calls) + "}"; }, dir_);
  ASSERT_TRUE(server) << server.error().message;
  const stdfs::path socket = (*server)->socket_path();
  EXPECT_EQ(socket, control_socket_path(dir_, "/mnt/a"));
  EXPECT_TRUE(S_ISSOCK(mode(socket)));
  EXPECT_EQ(mode(socket) & 0777, 0600u);
  EXPECT_EQ(mode(dir_) & 07777, 0700u);

  auto first = request_status(socket);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "{\"n\":1}\n");
  EXPECT_EQ(*request_status(socket), "{\"n\":2}\n");

  auto all = query_all_mounts(dir_);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].socket, socket);

  // A second server for the same mountpoint is refused while the first one lives.
  auto twin = ControlServer::start(
      "/mnt/a", [] { return std::string(); }, dir_);
  ASSERT_FALSE(twin);
  EXPECT_EQ(twin.error().code, std::errc::address_in_use);

  (*server)->stop();
  EXPECT_FALSE(stdfs::exists(socket));
  auto gone = request_status(socket);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, std::errc::no_such_file_or_directory);
}

// A raw client: connects, sends `request` and returns everything the server wrote.
std::string raw_exchange(const stdfs::path& socket, const std::string& request) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string reply;
  char buf[512];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    reply.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return reply;
}

TEST_F(ControlTest, RejectsUnknownAndOversizedRequests) {
  auto server = ControlServer::start(
      "/mnt/a", [] { return std::string("{}"); }, dir_);
  ASSERT_TRUE(server);
  const stdfs::path socket = (*server)->socket_path();
  EXPECT_EQ(raw_exchange(socket, "status\n"), "ok\n{}\n");
  EXPECT_EQ(raw_exchange(socket, "shutdown\n"), "error unknown request\n");
  EXPECT_EQ(raw_exchange(socket, std::string(kMaxRequest + 10, 'x')),
            "error bad request: expected one line\n");
}

TEST_F(ControlTest, StatusCallbackExceptionBecomesAnError) {
  auto server = ControlServer::start(
      "/mnt/a", []() -> std::string { throw std::runtime_error("boom"); }, dir_);
  ASSERT_TRUE(server);
  auto r = request_status((*server)->socket_path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("boom"), std::string::npos);
}

// Stalled clients and stop(): tests/tools/control_server_test.cpp.

TEST_F(ControlTest, StaleSocketsAreReplacedAndSkipped) {
  ASSERT_TRUE(ensure_control_dir(dir_));
  const stdfs::path stale = control_socket_path(dir_, "/mnt/dead");
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", stale.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);  // bound, never listening: connect() is refused, like a crashed mount's
  }
  auto r = request_status(stale);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::connection_refused);
  auto all = query_all_mounts(dir_);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  EXPECT_FALSE(stdfs::exists(stale)) << "the listing removed the stale socket";

  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", stale.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  auto server = ControlServer::start(
      "/mnt/dead", [] { return std::string("{}"); }, dir_);
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_TRUE(request_status(stale));
}

TEST_F(ControlTest, ARegularFileInThePlaceOfTheSocketIsNotReplaced) {
  ASSERT_TRUE(ensure_control_dir(dir_));
  const stdfs::path path = control_socket_path(dir_, "/mnt/a");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fclose(f);
  }
  auto server = ControlServer::start(
      "/mnt/a", [] { return std::string("{}"); }, dir_);
  ASSERT_FALSE(server);
  EXPECT_TRUE(stdfs::is_regular_file(path));
}

TEST_F(ControlTest, MissingDirectoryMeansNoMounts) {
  auto all = query_all_mounts(dir_);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

}  // namespace
}  // namespace torfs::tools
