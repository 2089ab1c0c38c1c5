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

TorrentFs::TorrentFs(TorrentView& view, FsOptions options) : options_(std::move(options)) {
  // Not owned: the aliasing constructor gives a shared_ptr that never deletes the view.
  single_ = std::make_shared<Volume>(
      std::string(), std::shared_ptr<TorrentView>(std::shared_ptr<TorrentView>(), &view), kRootIno,
      false);
  sweeper_ = std::thread([this] { sweep_loop(); });
}

TorrentFs::TorrentFs(FsOptions options) : options_(std::move(options)) {
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

double TorrentFs::attr_timeout(const Volume& vol, const InodeNode& node) const {
  if (node.is_dir) return options_.stable_timeout;
  const auto& entry = vol.view->metainfo().layout.file(node.file);
  return vol.view->file_have_bytes(node.file) >= entry.size ? options_.stable_timeout
                                                            : options_.changing_attr_timeout;
}

void TorrentFs::fill_stat(const Volume& vol, const InodeNode& node, struct stat& st) const {
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
  const auto& entry = vol.view->metainfo().layout.file(node.file);
  st.st_mode = S_IFREG | (entry.executable ? 0555 : 0444);
  st.st_nlink = 1;
  st.st_size = static_cast<off_t>(entry.size);
  // Verified bytes, so `du` shows download progress.
  st.st_blocks = static_cast<blkcnt_t>(div_up(vol.view->file_have_bytes(node.file), 512));
}

void TorrentFs::stat_of(const Ref& ref, struct stat& st) const {
  if (ref.synthetic_root) return root_stat(st);
  fill_stat(*ref.vol, *ref.node, st);
}

void TorrentFs::root_stat(struct stat& st) const {
  std::memset(&st, 0, sizeof st);
  st.st_ino = kRootIno;
  st.st_uid = options_.uid;
  st.st_gid = options_.gid;
  st.st_atim.tv_sec = st.st_mtim.tv_sec = st.st_ctim.tv_sec = options_.time;
  st.st_blksize = kIoBlockSize;
  st.st_mode = S_IFDIR | 0555;
  std::shared_lock lock(volumes_mutex_);
  st.st_nlink = 2 + by_name_.size();
  st.st_size = static_cast<off_t>(kBlockSize);
}

void TorrentFs::fill_entry(const Volume& vol, const InodeNode& node, fuse_entry_param& e) const {
  std::memset(&e, 0, sizeof e);
  e.ino = node.ino;
  e.generation = 1;
  fill_stat(vol, node, e.attr);
  e.attr_timeout = attr_timeout(vol, node);
  // A torrent's names never change while mounted; a directory mount's root names do.
  const bool volume_root = multi() && node.ino == vol.table.root();
  e.entry_timeout = volume_root ? options_.root_timeout : options_.stable_timeout;
}

void TorrentFs::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (std::strlen(name) > 255) return void(fuse_reply_err(req, ENAMETOOLONG));
  const Ref dir = resolve(parent);
  if (!dir) return void(fuse_reply_err(req, ENOENT));
  if (dir.synthetic_root) return root_lookup(req, name);
  if (!dir.node->is_dir) return void(fuse_reply_err(req, ENOTDIR));
  InodeTable& table = dir.vol->table;
  const InodeNode* child = table.child(parent, name);
  if (!child) {
    // A negative entry that the kernel may cache: the tree never changes.
    fuse_entry_param e{};
    e.ino = 0;
    e.entry_timeout = options_.stable_timeout;
    return void(fuse_reply_entry(req, &e));
  }
  fuse_entry_param e;
  fill_entry(*dir.vol, *child, e);
  table.add_lookup(child->ino);
  if (fuse_reply_entry(req, &e) != 0) table.forget(child->ino, 1);
}

void TorrentFs::getattr(fuse_req_t req, fuse_ino_t ino, const fuse_file_info* fi) {
  Ref ref = resolve(ino);
  if (!ref && fi && fi->fh) {
    // fstat() of a file whose torrent was removed from a directory mount: still open, so
    // still answered (only file handles carry an fh; directories' is 0).
    const auto* handle = reinterpret_cast<const FileHandle*>(fi->fh);
    if (const InodeNode* node = handle->vol->table.node(ino)) ref = Ref{handle->vol, node, false};
  }
  if (!ref) return void(fuse_reply_err(req, ENOENT));
  struct stat st;
  stat_of(ref, st);
  fuse_reply_attr(req, &st,
                  ref.synthetic_root ? options_.root_timeout : attr_timeout(*ref.vol, *ref.node));
}

void TorrentFs::readdir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off, bool plus) {
  const Ref ref = resolve(ino);
  if (!ref) return void(fuse_reply_err(req, ENOENT));
  if (ref.synthetic_root) return root_readdir(req, size, off, plus);
  const InodeNode* dir = ref.node;
  if (!dir->is_dir) return void(fuse_reply_err(req, ENOTDIR));
  Volume& vol = *ref.vol;
  InodeTable& table = vol.table;
  // A volume's root: ".." is the synthetic root.
  const bool parent_is_root = multi() && dir->ino == table.root();
  // Offsets: 0 = start, 1 = after ".", 2 = after "..", 2 + i = after child i. The tree is
  // immutable, so offsets stay valid across calls.
  std::vector<char> buf(size);
  std::size_t used = 0;
  const std::size_t total = dir->children.size() + 2;
  for (std::size_t i = static_cast<std::size_t>(std::max<off_t>(off, 0)); i < total; ++i) {
    const InodeNode* n = i == 0   ? dir
                         : i == 1 ? table.node(dir->parent)
                                  : table.node(dir->children[i - 2]);
    const char* name = i == 0 ? "." : i == 1 ? ".." : n->name.c_str();
    const bool synthetic = i == 1 && parent_is_root;
    std::size_t len;
    if (plus) {
      fuse_entry_param e;
      if (synthetic) {
        std::memset(&e, 0, sizeof e);
        e.ino = kRootIno;
        root_stat(e.attr);
      } else {
        fill_entry(vol, *n, e);
      }
      len = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e,
                                   static_cast<off_t>(i + 1));
      // The kernel takes a reference for every entry it receives, except "." and "..".
      if (len <= size - used && i >= 2) table.add_lookup(n->ino);
    } else {
      struct stat st {};
      st.st_ino = synthetic ? kRootIno : n->ino;
      st.st_mode = synthetic || n->is_dir ? S_IFDIR : S_IFREG;
      len = fuse_add_direntry(req, buf.data() + used, size - used, name, &st,
                              static_cast<off_t>(i + 1));
    }
    if (len > size - used) break;
    used += len;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void TorrentFs::statfs(fuse_req_t req) {
  // A directory mount reports the sum of its torrents.
  TorrentStats s;
  std::uint64_t inodes = 1;
  for (const VolumePtr& vol : multi() ? volume_list() : std::vector<VolumePtr>{single_}) {
    const TorrentStats one = vol->view->stats();
    s.total_bytes += one.total_bytes;
    s.have_bytes += std::min(one.have_bytes, one.total_bytes);
    inodes += vol->table.size();
  }
  if (!multi()) inodes = single_->table.size();
  struct statvfs st {};
  st.f_bsize = kIoBlockSize;
  st.f_frsize = kBlockSize;
  st.f_blocks = div_up(s.total_bytes, kBlockSize);
  // "Free" = bytes still to download, so `df` shows how much of the torrent is missing.
  const std::uint64_t missing = s.total_bytes > s.have_bytes ? s.total_bytes - s.have_bytes : 0;
  st.f_bfree = st.f_bavail = missing / kBlockSize;
  st.f_files = inodes;
  st.f_ffree = st.f_favail = 0;
  st.f_namemax = 255;
  st.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
  fuse_reply_statfs(req, &st);
}

void TorrentFs::access(fuse_req_t req, fuse_ino_t ino, int mask) {
  const Ref ref = resolve(ino);
  if (!ref) return void(fuse_reply_err(req, ENOENT));
  if (mask & W_OK) return void(fuse_reply_err(req, EROFS));
  if (mask & X_OK) {
    struct stat st;
    stat_of(ref, st);
    if (!(st.st_mode & S_IXUSR)) return void(fuse_reply_err(req, EACCES));
  }
  fuse_reply_err(req, 0);
}

}  // namespace torfs::fs
