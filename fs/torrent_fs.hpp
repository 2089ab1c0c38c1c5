// TorrentFs: a read-only FUSE low-level filesystem over one torrent (a TorrentView), or over
// a changing set of torrents ("volumes", a directory mount).
//
// Single mode (TorrentFs(view, options)): the torrent's tree is at the root, as laid out in
// its data directory. Multi mode (TorrentFs(options)): the root is a synthetic read-only
// directory holding one directory per volume, added and removed while mounted with
// add_torrent()/remove_torrent(). A volume's directory holds the torrent's files directly (a
// multi-file torrent's own top directory is left out). Every volume numbers its inodes in a
// range of its own, never reused while the TorrentFs lives, so a removed volume's inodes
// answer ENOENT, except through handles already open (those keep working; see remove_torrent).
//
// operations() is the fuse_lowlevel_ops table; pass the TorrentFs as the session's userdata.
// Every handler replies exactly once and never lets an exception out (EIO instead). Reads of
// verified data are answered at once from the data file by offset (an fd-backed buffer, so
// libfuse can splice); reads over missing pieces are parked with the engine and answered
// later by whoever wins the ParkedReads claim: the engine (data / EIO on timeout / EIO at
// shutdown), a FUSE interrupt (EINTR) or the deadline sweeper (EIO). See docs/fs.md.
//
// Lifetime: a single-mode view must outlive the TorrentFs; multi-mode views are shared. shutdown()
// (also run by the destructor) answers every parked read with EIO, refuses to park new ones and
// waits for replies in flight; after it returns, the TorrentFs never touches the FUSE session
// again, so the session may be destroyed. Engine callbacks arriving later are ignored safely.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/result.hpp"
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
  // Multi mode: entry and attribute timeout of the root's names and of the root itself, which
  // change whenever a torrent is added or removed.
  double root_timeout = 1.0;
  // Called once from a FUSE thread when the kernel's INIT arrives: the mount is live.
  std::function<void()> on_init;
};

class TorrentFs {
 public:
  // Single mode: `view`'s tree at the root.
  TorrentFs(TorrentView& view, FsOptions options);
  // Multi mode: an empty root; add volumes with add_torrent().
  explicit TorrentFs(FsOptions options);
  ~TorrentFs();
  TorrentFs(const TorrentFs&) = delete;
  TorrentFs& operator=(const TorrentFs&) = delete;

  static const fuse_lowlevel_ops& operations();

  // Answers every parked read (EIO), refuses new parks, waits for replies in flight. Idempotent.
  void shutdown();
  std::size_t parked_reads() const { return reads_->size(); }
  // Single mode only: the torrent's inode table.
  const InodeTable& inodes() const { return single_->table; }

  // --- multi mode (any thread; not from a FUSE request handler) ---
  // Adds a volume and returns its directory name: `preferred_name` made safe (no '/', not
  // empty, "." or ".."; else the hex info-hash) and, when taken, "NAME (2)", "NAME (3)"...,
  // the first free one. Fails with invalid_argument in single mode.
  Result<std::string> add_torrent(std::string preferred_name, std::shared_ptr<TorrentView> view);
  // Removes the volume `name` from the root at once (the kernel's cached entry is dropped).
  // Handles already open on its files, and their parked reads, keep working; `on_released`
  // runs exactly once (on the calling thread or a FUSE thread) when the last of them is
  // closed, at once if none is open; the view is let go after it ran. False if no such name.
  bool remove_torrent(const std::string& name, std::function<void()> on_released = {});
  struct VolumeInfo {
    std::string name;
    std::shared_ptr<TorrentView> view;
  };
  // The volumes now visible, in the order they were added.
  std::vector<VolumeInfo> volumes() const;
  // The FUSE session to notify when names change (FuseMount sets it after mounting and clears
  // it before destroying the session). Waits for a notification in progress.
  void set_session(fuse_session* se);
  // The kernel's readahead size agreed at INIT, for diagnostics and tests.
  unsigned max_readahead() const { return max_readahead_; }
  // The largest read request received so far (shows what the kernel sends: up to 1 MiB).
  std::size_t largest_read() const { return largest_read_; }

 private:
  friend struct FsOps;
  // One torrent. Immutable after construction except the release bookkeeping; kept alive by
  // the volume map, open handles and parked reads (shared_ptr), so a removed volume serves
  // its open handles until they are closed.
  struct Volume {
    Volume(std::string name, std::shared_ptr<TorrentView> view, Ino base, bool strip);
    std::string name;
    std::shared_ptr<TorrentView> view;
    InodeTable table;
    std::mutex mutex;  // guards the three below
    std::size_t open_handles = 0;
    bool removed = false;
    std::function<void()> on_released;  // set by remove_torrent, run once
  };
  using VolumePtr = std::shared_ptr<Volume>;
  // An inode resolved: its volume and node, or the synthetic root (multi mode: vol empty).
  struct Ref {
    VolumePtr vol;
    const InodeNode* node = nullptr;
    bool synthetic_root = false;
    explicit operator bool() const { return node || synthetic_root; }
  };
  struct FileHandle {
    VolumePtr vol;
    FileIndex file;
    ReaderId reader = 0;
    ReadaheadWindow window;
  };

  // Volumes (torrent_fs_volumes.cpp).
  Ref resolve(Ino ino) const;
  VolumePtr volume_named(const std::string& name) const;
  std::vector<VolumePtr> volume_list() const;
  bool multi() const { return !single_; }
  void handle_closed(Volume& vol);
  void notify_root(const std::string& name);
  void root_stat(struct stat& st) const;
  void root_lookup(fuse_req_t req, const char* name);
  void root_readdir(fuse_req_t req, std::size_t size, off_t off, bool plus);

  // Attributes and names (torrent_fs.cpp).
  void fill_stat(const Volume& vol, const InodeNode& node, struct stat& st) const;
  double attr_timeout(const Volume& vol, const InodeNode& node) const;
  void fill_entry(const Volume& vol, const InodeNode& node, fuse_entry_param& e) const;
  void stat_of(const Ref& ref, struct stat& st) const;
  void init(fuse_conn_info* conn);
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  // `fi` (may be null): an open file's handle, which outlives the removal of its volume.
  void getattr(fuse_req_t req, fuse_ino_t ino, const fuse_file_info* fi);
  void readdir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, bool plus);
  void statfs(fuse_req_t req);
  void access(fuse_req_t req, fuse_ino_t ino, int mask);

  // Extended attributes (torrent_fs_xattr.cpp).
  void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, std::size_t size);
  void listxattr(fuse_req_t req, fuse_ino_t ino, std::size_t size);
  bool xattr_value(const Volume& vol, const InodeNode& node, const std::string& name,
                   std::string& value) const;

  // Data (torrent_fs_read.cpp).
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, fuse_file_info* fi);
  void release(fuse_req_t req, fuse_file_info* fi);
  // Drops a handle (release, or an interrupted open) and updates its volume's count.
  void forget_handle(FileHandle* handle);
  // Pins the range with acquire_read and replies from the data file; false (nothing sent)
  // when the range is not all verified.
  bool reply_verified(fuse_req_t req, TorrentView& view, FileIndex file, std::uint64_t offset,
                      std::uint64_t length);
  void reply_from_disk(fuse_req_t req, TorrentView& view, FileIndex file, std::uint64_t offset,
                       std::uint64_t length);
  void park(fuse_req_t req, FileHandle& handle, std::uint64_t offset, std::uint64_t length,
            std::uint64_t readahead);
  // Asks the engine for a parked read's range; whoever wins the claim answers it.
  void wait_for(const ParkedReads::ReadPtr& read, std::uint64_t readahead);
  // Replies to a read this thread claimed: data when `ec` is empty, else an errno; or parks it
  // again when its bytes were evicted between the engine's answer and the reply.
  void complete(const ParkedReads::ReadPtr& read, std::error_code ec) noexcept;
  static void interrupt_trampoline(fuse_req_t req, void* data);
  void on_interrupt(fuse_req_t req) noexcept;
  // Answers claimed reads with EIO and withdraws their engine waits.
  void answer_claimed(const std::vector<ParkedReads::ReadPtr>& reads);
  void sweep_loop();

  FsOptions options_;
  VolumePtr single_;  // single mode's one volume; empty in multi mode

  // Multi mode: the visible volumes, by name and by their inode base (for resolve()).
  mutable std::shared_mutex volumes_mutex_;
  std::map<std::string, VolumePtr, std::less<>> by_name_;
  std::map<Ino, VolumePtr> by_base_;
  Ino next_base_ = kRootIno + 1;  // guarded by volumes_mutex_; never reused
  std::mutex session_mutex_;      // held while notifying, so set_session can wait it out
  fuse_session* session_ = nullptr;

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
