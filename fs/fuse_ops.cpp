// The fuse_lowlevel_ops table: C trampolines into TorrentFs.
//
// Contract for every handler: exactly one fuse_reply_* (fuse_reply_none for forget), and no
// exception crosses into libfuse. TorrentFs handlers only throw before they reply (allocation
// failures), so the catch-all below can answer EIO without risking a second reply.
#include <cerrno>

#include "fs/torrent_fs.hpp"

namespace torfs::fs {

struct FsOps {
  static TorrentFs& fs(fuse_req_t req) { return *static_cast<TorrentFs*>(fuse_req_userdata(req)); }

  template <class F>
  static void guarded(fuse_req_t req, F&& body) noexcept {
    try {
      body(fs(req));
    } catch (...) {
      fuse_reply_err(req, EIO);
    }
  }

  static void init(void* userdata, fuse_conn_info* conn) {
    try {
      static_cast<TorrentFs*>(userdata)->init(conn);
    } catch (...) {
      // init has no reply; a failing on_init hook must not take the mount down.
    }
  }
  static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, [&](TorrentFs& f) { f.lookup(req, parent, name); });
  }
  // Forgets of the synthetic root or of removed volumes' inodes have nothing to update.
  static void forget_one(TorrentFs& f, fuse_ino_t ino, uint64_t nlookup) noexcept {
    try {
      const TorrentFs::Ref ref = f.resolve(ino);
      if (ref.vol && ref.node) ref.vol->table.forget(ino, nlookup);
    } catch (...) {
      // Bookkeeping only; forget has no reply to fail.
    }
  }
  static void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    forget_one(fs(req), ino, nlookup);
    fuse_reply_none(req);
  }
  static void forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    for (size_t i = 0; i < count; ++i)
      forget_one(fs(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  }
  static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, [&](TorrentFs& f) { f.getattr(req, ino, fi); });
  }
  static void readlink(fuse_req_t req, fuse_ino_t) { fuse_reply_err(req, EINVAL); }
  static void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, [&](TorrentFs& f) {
      const TorrentFs::Ref ref = f.resolve(ino);
      if (!ref) return void(fuse_reply_err(req, ENOENT));
      if (!ref.synthetic_root && !ref.node->is_dir) return void(fuse_reply_err(req, ENOTDIR));
      if ((fi->flags & O_ACCMODE) != O_RDONLY) return void(fuse_reply_err(req, EROFS));
      fi->fh = 0;
      // A torrent's directories never change while mounted: let the kernel cache them. A
      // directory mount's root changes with every added or removed torrent.
      fi->cache_readdir = ref.synthetic_root ? 0 : 1;
      fi->keep_cache = ref.synthetic_root ? 0 : 1;
      fuse_reply_open(req, fi);
    });
  }
  static void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    guarded(req, [&](TorrentFs& f) { f.readdir(req, ino, size, off, false); });
  }
  static void readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    guarded(req, [&](TorrentFs& f) { f.readdir(req, ino, size, off, true); });
  }
  static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, [&](TorrentFs& f) { f.open(req, ino, fi); });
  }
  static void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    guarded(req, [&](TorrentFs& f) { f.read(req, ino, size, off, fi); });
  }
  static void release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    guarded(req, [&](TorrentFs& f) { f.release(req, fi); });
  }
  static void ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
  static void fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }
  static void statfs(fuse_req_t req, fuse_ino_t) {
    guarded(req, [&](TorrentFs& f) { f.statfs(req); });
  }
  static void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    guarded(req, [&](TorrentFs& f) { f.getxattr(req, ino, name, size); });
  }
  static void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    guarded(req, [&](TorrentFs& f) { f.listxattr(req, ino, size); });
  }
  static void access(fuse_req_t req, fuse_ino_t ino, int mask) {
    guarded(req, [&](TorrentFs& f) { f.access(req, ino, mask); });
  }

  // Everything that would modify the tree or the data: read-only filesystem.
  static void rofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }
  static void setattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { rofs(req); }
  static void mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { rofs(req); }
  static void mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { rofs(req); }
  static void unlink(fuse_req_t req, fuse_ino_t, const char*) { rofs(req); }
  static void symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { rofs(req); }
  static void rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
    rofs(req);
  }
  static void link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { rofs(req); }
  static void write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) {
    rofs(req);
  }
  static void setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
    rofs(req);
  }
  static void removexattr(fuse_req_t req, fuse_ino_t, const char*) { rofs(req); }
  static void create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
    rofs(req);
  }
  static void fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) {
    rofs(req);
  }
  static void copy_file_range(fuse_req_t req, fuse_ino_t, off_t, fuse_file_info*, fuse_ino_t, off_t,
                              fuse_file_info*, size_t, int) {
    rofs(req);
  }

  static fuse_lowlevel_ops make() {
    fuse_lowlevel_ops ops{};
    ops.init = init;
    ops.lookup = lookup;
    ops.forget = forget;
    ops.forget_multi = forget_multi;
    ops.getattr = getattr;
    ops.setattr = setattr;
    ops.readlink = readlink;
    ops.mknod = mknod;
    ops.mkdir = mkdir;
    ops.unlink = unlink;
    ops.rmdir = unlink;
    ops.symlink = symlink;
    ops.rename = rename;
    ops.link = link;
    ops.open = open;
    ops.read = read;
    ops.write = write;
    ops.flush = ok;
    ops.release = release;
    ops.fsync = fsync;
    ops.opendir = opendir;
    ops.readdir = readdir;
    ops.readdirplus = readdirplus;
    ops.releasedir = ok;
    ops.fsyncdir = fsync;
    ops.statfs = statfs;
    ops.setxattr = setxattr;
    ops.getxattr = getxattr;
    ops.listxattr = listxattr;
    ops.removexattr = removexattr;
    ops.access = access;
    ops.create = create;
    ops.fallocate = fallocate;
    ops.copy_file_range = copy_file_range;
    return ops;
  }
};

const fuse_lowlevel_ops& TorrentFs::operations() {
  static const fuse_lowlevel_ops ops = FsOps::make();
  return ops;
}

}  // namespace torfs::fs
