// TorrentFs: construction, attributes, names, directories, statfs.
#include "fs/torrent_fs.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace torfs::fs {
namespace {

constexpr std::uint64_t kBlockSize = 4096;
constexpr blksize_t kIoBlockSize = 1024 * 1024;  // hints cp/cat to use large reads

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) {
  return a / b + (a % b ? 1 : 0);
}

}  // namespace

TorrentFs::TorrentFs(TorrentView& view, FsOptions options)
    : view_(view), options_(std::move(options)), table_(view.metainfo().layout) {
  sweeper_ = std::thread([this] { sweep_loop(); });
}

TorrentFs::~TorrentFs() {
  shutdown();
  {
    std::lock_guard lock(sweep_mutex_);
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void TorrentFs::init(fuse_conn_info* conn) {
  // Splice replies from the data files straight into /dev/fuse when the kernel can.
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  // Not SPLICE_MOVE: page-cache pages of the data files cannot be stolen (the kernel logs a
  // "weird page" warning for each and copies anyway).
  // Reads are answered out of order from many threads; let the kernel send several at once.
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // Data never changes once verified and sizes are final: the page cache stays valid.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // max_read is left alone: libfuse refuses an init() that changes it without the matching
  // mount option. Reads are bounded by max_pages (derived from max_write: 1 MiB in 3.14).
  max_readahead_ = conn->max_readahead;
  if (options_.on_init) options_.on_init();
}

double TorrentFs::attr_timeout(const InodeNode& node) const {
  if (node.is_dir) return options_.stable_timeout;
  const auto& entry = view_.metainfo().layout.file(node.file);
  return view_.file_have_bytes(node.file) >= entry.size ? options_.stable_timeout
                                                        : options_.changing_attr_timeout;
}

void TorrentFs::fill_stat(const InodeNode& node, struct stat& st) const {
  std::memset(&st, 0, sizeof st);
  st.st_ino = node.ino;
  st.st_uid = options_.uid;
  st.st_gid = options_.gid;
  st.st_atim.tv_sec = st.st_mtim.tv_sec = st.st_ctim.tv_sec = options_.time;
  st.st_blksize = kIoBlockSize;
  if (node.is_dir) {
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2 + node.subdirs;
    st.st_size = static_cast<off_t>(kBlockSize);
    return;
  }
  const auto& entry = view_.metainfo().layout.file(node.file);
  st.st_mode = S_IFREG | (entry.executable ? 0555 : 0444);
  st.st_nlink = 1;
  st.st_size = static_cast<off_t>(entry.size);
  // Verified bytes, so `du` shows download progress.
  st.st_blocks = static_cast<blkcnt_t>(div_up(view_.file_have_bytes(node.file), 512));
}

bool TorrentFs::fill_entry(const InodeNode& node, fuse_entry_param& e) const {
  std::memset(&e, 0, sizeof e);
  e.ino = node.ino;
  e.generation = 1;
  fill_stat(node, e.attr);
  e.attr_timeout = attr_timeout(node);
  e.entry_timeout = options_.stable_timeout;  // names never change while mounted
  return true;
}

void TorrentFs::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const InodeNode* dir = table_.node(parent);
  if (!dir) return void(fuse_reply_err(req, ENOENT));
  if (!dir->is_dir) return void(fuse_reply_err(req, ENOTDIR));
  if (std::strlen(name) > 255) return void(fuse_reply_err(req, ENAMETOOLONG));
  const InodeNode* child = table_.child(parent, name);
  if (!child) {
    // A negative entry that the kernel may cache: the tree never changes.
    fuse_entry_param e{};
    e.ino = 0;
    e.entry_timeout = options_.stable_timeout;
    return void(fuse_reply_entry(req, &e));
  }
  fuse_entry_param e;
  fill_entry(*child, e);
  table_.add_lookup(child->ino);
  if (fuse_reply_entry(req, &e) != 0) table_.forget(child->ino, 1);
}

void TorrentFs::getattr(fuse_req_t req, fuse_ino_t ino) {
  const InodeNode* node = table_.node(ino);
  if (!node) return void(fuse_reply_err(req, ENOENT));
  struct stat st;
  fill_stat(*node, st);
  fuse_reply_attr(req, &st, attr_timeout(*node));
}

void TorrentFs::readdir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, bool plus) {
  const InodeNode* dir = table_.node(ino);
  if (!dir) return void(fuse_reply_err(req, ENOENT));
  if (!dir->is_dir) return void(fuse_reply_err(req, ENOTDIR));
  // Offsets: 0 = start, 1 = after ".", 2 = after "..", 2 + i = after child i. The tree is
  // immutable, so offsets stay valid across calls.
  std::vector<char> buf(size);
  std::size_t used = 0;
  const std::size_t total = dir->children.size() + 2;
  for (std::size_t i = static_cast<std::size_t>(std::max<off_t>(off, 0)); i < total; ++i) {
    const InodeNode* n = i == 0   ? dir
                         : i == 1 ? table_.node(dir->parent)
                                  : table_.node(dir->children[i - 2]);
    const char* name = i == 0 ? "." : i == 1 ? ".." : n->name.c_str();
    std::size_t len;
    if (plus) {
      fuse_entry_param e;
      fill_entry(*n, e);
      len = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e,
                                   static_cast<off_t>(i + 1));
      // The kernel takes a reference for every entry it receives, except "." and "..".
      if (len <= size - used && i >= 2) table_.add_lookup(n->ino);
    } else {
      struct stat st {};
      st.st_ino = n->ino;
      st.st_mode = n->is_dir ? S_IFDIR : S_IFREG;
      len = fuse_add_direntry(req, buf.data() + used, size - used, name, &st,
                              static_cast<off_t>(i + 1));
    }
    if (len > size - used) break;
    used += len;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void TorrentFs::statfs(fuse_req_t req) {
  const TorrentStats s = view_.stats();
  struct statvfs st {};
  st.f_bsize = kIoBlockSize;
  st.f_frsize = kBlockSize;
  st.f_blocks = div_up(s.total_bytes, kBlockSize);
  // "Free" = bytes still to download, so `df` shows how much of the torrent is missing.
  const std::uint64_t missing = s.total_bytes > s.have_bytes ? s.total_bytes - s.have_bytes : 0;
  st.f_bfree = st.f_bavail = missing / kBlockSize;
  st.f_files = table_.size();
  st.f_ffree = st.f_favail = 0;
  st.f_namemax = 255;
  st.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
  fuse_reply_statfs(req, &st);
}

void TorrentFs::access(fuse_req_t req, fuse_ino_t ino, int mask) {
  const InodeNode* node = table_.node(ino);
  if (!node) return void(fuse_reply_err(req, ENOENT));
  if (mask & W_OK) return void(fuse_reply_err(req, EROFS));
  if (mask & X_OK) {
    struct stat st;
    fill_stat(*node, st);
    if (!(st.st_mode & S_IXUSR)) return void(fuse_reply_err(req, EACCES));
  }
  fuse_reply_err(req, 0);
}

}  // namespace torfs::fs
