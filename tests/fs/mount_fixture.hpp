// A real FUSE mount of a TorrentFs over a FakeTorrentView, in this process: the session loop
// runs on a background thread and the test uses the mount with ordinary system calls (or from
// forked children, for signal tests). Cleans up the mount even when a test fails.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "fs/mount.hpp"
#include "fs/torrent_fs.hpp"
#include "tests/fs/fake_torrent_view.hpp"

namespace torfs::testing {

inline bool fuse_available() {
  if (access("/dev/fuse", R_OK | W_OK) == 0) return true;
  std::fprintf(stderr,
               "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
               "!!! /dev/fuse is not usable here: FUSE mount tests are SKIPPED        !!!\n"
               "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n");
  return false;
}

#define TORFS_REQUIRE_FUSE()                                                      \
  do {                                                                            \
    if (!::torfs::testing::fuse_available()) GTEST_SKIP() << "/dev/fuse missing"; \
  } while (0)

inline fs::FsOptions test_options() {
  fs::FsOptions o;
  o.uid = getuid();
  o.gid = getgid();
  o.time = 1'700'000'000;
  o.changing_attr_timeout = 0;  // stat sees progress at once
  o.readahead = {64 * 1024, 1024 * 1024};
  return o;
}

inline bool mounted_at(const std::filesystem::path& mp) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string needle = " " + mp.string() + " ";
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/torfs-fs-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Mounts `fs` on `mountpoint` (created) and runs its session loop on another thread; the
// destructor stops the loop (if it still runs) and unmounts.
class LoopingMount {
 public:
  LoopingMount(fs::TorrentFs& fs, std::filesystem::path mountpoint)
      : mountpoint_(std::move(mountpoint)) {
    std::filesystem::create_directories(mountpoint_);
    fs::MountOptions mo;
    mo.mountpoint = mountpoint_;
    auto m = fs::FuseMount::mount(fs, mo);
    if (!m.ok()) throw std::runtime_error(m.error().message);
    mount_ = std::move(m).value();
    loop_ = std::async(std::launch::async, [this] { return mount_->run().ok(); });
  }
  ~LoopingMount() {
    if (!mount_) return;
    if (loop_.valid()) {
      mount_->stop();
      loop_.wait();
    }
    mount_.reset();
  }
  LoopingMount(const LoopingMount&) = delete;
  LoopingMount& operator=(const LoopingMount&) = delete;

  // Waits for run() to return by itself (after an unmount); false if it did not in time.
  bool wait_loop_ended(std::chrono::seconds limit) {
    return loop_.wait_for(limit) == std::future_status::ready;
  }
  fs::FuseMount& mount() { return *mount_; }
  const std::filesystem::path& mountpoint() const { return mountpoint_; }

 private:
  std::filesystem::path mountpoint_;
  std::unique_ptr<fs::FuseMount> mount_;
  std::future<bool> loop_;
};

// What a fake view's file `f` holds at [off, off + len) (cut at the end of the file).
inline std::string expected_bytes(const FakeTorrentView& view, FileIndex f, std::uint64_t off,
                                  std::uint64_t len) {
  const FileEntry& e = view.metainfo().layout.file(f);
  std::string s;
  for (std::uint64_t i = 0; i < len && off + i < e.size; ++i)
    s.push_back(static_cast<char>(stream_byte(e.offset + off + i)));
  return s;
}

class MountedTorrent {
 public:
  MountedTorrent(std::vector<FileEntry> files, std::uint32_t piece_length,
                 fs::FsOptions options = test_options(), bool sparse = false)
      : view_(tmp_.path() / "data", std::move(files), piece_length, sparse),
        fs_(view_, std::move(options)),
        mount_(fs_, tmp_.path() / "mnt") {}

  bool wait_loop_ended(std::chrono::seconds limit = std::chrono::seconds(15)) {
    return mount_.wait_loop_ended(limit);
  }

  FakeTorrentView& view() { return view_; }
  fs::TorrentFs& fs() { return fs_; }
  fs::FuseMount& mount() { return mount_.mount(); }
  std::filesystem::path path(const std::string& rel) const { return mount_.mountpoint() / rel; }
  const std::filesystem::path& mountpoint() const { return mount_.mountpoint(); }
  std::string expected(FileIndex f, std::uint64_t off, std::uint64_t len) const {
    return expected_bytes(view_, f, off, len);
  }

 private:
  TempDir tmp_;
  FakeTorrentView view_;
  fs::TorrentFs fs_;
  LoopingMount mount_;
};

// Reads [off, off + len) with pread; returns the bytes or sets err to the errno.
inline std::string pread_all(int fd, std::uint64_t off, std::size_t len, int& err) {
  std::string out(len, '\0');
  std::size_t got = 0;
  err = 0;
  while (got < len) {
    const ssize_t n = ::pread(fd, out.data() + got, len - got, static_cast<off_t>(off + got));
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

inline std::string read_path(const std::filesystem::path& p, int& err) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) {
    err = errno;
    return {};
  }
  std::string s;
  err = 0;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      err = errno;
      break;
    }
    s.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return s;
}

// Waits for a child; false if it is still running after `limit` (then it is killed).
inline bool wait_child(pid_t pid, int& status, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return false;
}

}  // namespace torfs::testing
