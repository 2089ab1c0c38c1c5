// TorrentFs: a read-only FUSE low-level filesystem over one torrent (a TorrentView).
//
// operations() is the fuse_lowlevel_ops table; pass the TorrentFs as the session's userdata.
// Every handler replies exactly once and never lets an exception out (EIO instead). Reads of
// verified data are answered at once from the data file by offset (an fd-backed buffer, so
// libfuse can splice); reads over missing pieces are parked with the engine and answered
// later by whoever wins the ParkedReads claim: the engine (data / EIO on timeout / EIO at
// shutdown), a FUSE interrupt (EINTR) or the deadline sweeper (EIO). See docs/fs.md.
//
// Lifetime: the view must outlive the TorrentFs. shutdown() (also run by the destructor)
// answers every parked read with EIO, refuses to park new ones and waits for replies in
// flight; after it returns, the TorrentFs never touches the FUSE session again, so the
// session may be destroyed. Engine callbacks arriving later are ignored safely.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/torrent_view.hpp"
#include "fs/fuse_api.hpp"
#include "fs/inode_table.hpp"
#include "fs/parked_reads.hpp"
#include "fs/readahead.hpp"

namespace torfs::fs {

struct FsOptions {
  // A parked read fails with EIO after this long.
  std::chrono::milliseconds read_timeout{60'000};
  // The sweeper answers a parked read itself this long after its deadline if the engine did
  // not (defence in depth: a read must never hang).
  std::chrono::milliseconds deadline_grace{1'000};
  ReadaheadConfig readahead;
  uid_t uid = 0;
  gid_t gid = 0;
  std::int64_t time = 0;  // st_atime/mtime/ctime of every inode (seconds since the epoch)
  // Kernel cache timeouts (seconds): attributes of files still downloading change (st_blocks),
  // everything else (names, directories, complete files) never does.
  double changing_attr_timeout = 1.0;
  double stable_timeout = 3600.0;
  // Called once from a FUSE thread when the kernel's INIT arrives: the mount is live.
  std::function<void()> on_init;
};

class TorrentFs {
 public:
  TorrentFs(TorrentView& view, FsOptions options);
  ~TorrentFs();
  TorrentFs(const TorrentFs&) = delete;
  TorrentFs& operator=(const TorrentFs&) = delete;

  static const fuse_lowlevel_ops& operations();

  // Answers every parked read (EIO), refuses new parks, waits for replies in flight. Idempotent.
  void shutdown();
  std::size_t parked_reads() const { return reads_->size(); }
  const InodeTable& inodes() const { return table_; }
  // The kernel's readahead size agreed at INIT, for diagnostics and tests.
  unsigned max_readahead() const { return max_readahead_; }
  // The largest read request received so far (shows what the kernel sends: up to 1 MiB).
  std::size_t largest_read() const { return largest_read_; }

 private:
  friend struct FsOps;
  struct FileHandle {
    FileIndex file;
    ReaderId reader = 0;
    ReadaheadWindow window;
  };

  // Attributes and names (torrent_fs.cpp).
  void fill_stat(const InodeNode& node, struct stat& st) const;
  double attr_timeout(const InodeNode& node) const;
  bool fill_entry(const InodeNode& node, fuse_entry_param& e) const;
  void init(fuse_conn_info* conn);
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void getattr(fuse_req_t req, fuse_ino_t ino);
  void readdir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, bool plus);
  void statfs(fuse_req_t req);
  void access(fuse_req_t req, fuse_ino_t ino, int mask);

  // Extended attributes (torrent_fs_xattr.cpp).
  void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, std::size_t size);
  void listxattr(fuse_req_t req, fuse_ino_t ino, std::size_t size);
  bool xattr_value(const InodeNode& node, const std::string& name, std::string& value) const;

  // Data (torrent_fs_read.cpp).
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, fuse_file_info* fi);
  void release(fuse_req_t req, fuse_file_info* fi);
  bool range_verified(std::uint64_t stream_offset, std::uint64_t length) const;
  void reply_from_disk(fuse_req_t req, FileIndex file, std::uint64_t offset, std::uint64_t length);
  void park(fuse_req_t req, FileHandle& handle, std::uint64_t offset, std::uint64_t length,
            std::uint64_t readahead);
  // Replies to a read this thread claimed: data when `ec` is empty, else an errno.
  void complete(ParkedRead& read, std::error_code ec) noexcept;
  static void interrupt_trampoline(fuse_req_t req, void* data);
  void on_interrupt(fuse_req_t req) noexcept;
  // Answers claimed reads with EIO and withdraws their engine waits.
  void answer_claimed(const std::vector<ParkedReads::ReadPtr>& reads);
  void sweep_loop();

  TorrentView& view_;
  FsOptions options_;
  InodeTable table_;
  std::shared_ptr<ParkedReads> reads_ = std::make_shared<ParkedReads>();
  std::atomic<ReaderId> next_reader_{1};
  std::atomic<unsigned> max_readahead_{0};
  std::atomic<std::size_t> largest_read_{0};
  // Open file handles are owned here, not by the kernel: after an unmount with files still
  // open no release() ever arrives, and the handles must not leak.
  std::mutex handles_mutex_;
  std::unordered_map<const FileHandle*, std::unique_ptr<FileHandle>> handles_;

  std::mutex sweep_mutex_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace torfs::fs
