// torfs_bench_passthrough: a minimal read-only passthrough FUSE filesystem over one source
// directory, the ceiling of tools/bench-mount. It uses what a good FUSE filesystem would (libfuse 3
// low-level API, multi-threaded loop, 1 MiB requests, fd-backed replies that libfuse splices into
// /dev/fuse, page cache kept across opens) and nothing else. The source must not change while
// mounted (the kernel caches attributes and data for a day).
//
// usage: torfs_bench_passthrough SOURCE_DIR MOUNTPOINT [-f] [-d] [-o OPTS] [--stats]
//   --stats  at unmount, print a histogram of the read request sizes the kernel sent.
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace {

constexpr double kTimeout = 86400.0;  // the source is static while mounted

// Inode table: FUSE inode number -> backing path, with lookup counts honoured by forget.
// Thread-safe (one mutex); the root (FUSE_ROOT_ID) is never forgotten.
class Inodes {
 public:
  explicit Inodes(std::string root) { nodes_[FUSE_ROOT_ID] = Node{std::move(root), 1, {}}; }

  // The backing path of ino, or false when the kernel names an inode we do not know.
  bool path(fuse_ino_t ino, std::string& out) {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(ino);
    if (it != nodes_.end()) out = it->second.path;
    return it != nodes_.end();
  }

  // Registers one more kernel reference to the file at `path` with attributes `st`.
  fuse_ino_t remember(const std::string& path, const struct stat& st) {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(st.st_dev, st.st_ino);
    auto [it, fresh] = by_backing_.try_emplace(key, next_);
    if (fresh) nodes_[next_++] = Node{path, 0, key};
    ++nodes_[it->second].nlookup;
    return it->second;
  }

  void forget(fuse_ino_t ino, uint64_t n) {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(ino);
    if (ino == FUSE_ROOT_ID || it == nodes_.end()) return;
    it->second.nlookup -= std::min(n, it->second.nlookup);
    if (it->second.nlookup == 0) {
      by_backing_.erase(it->second.backing);
      nodes_.erase(it);
    }
  }

 private:
  struct Node {
    std::string path;
    uint64_t nlookup;
    std::pair<dev_t, ino_t> backing;
  };
  std::mutex mutex_;
  std::unordered_map<fuse_ino_t, Node> nodes_;
  std::map<std::pair<dev_t, ino_t>, fuse_ino_t> by_backing_;
  fuse_ino_t next_ = FUSE_ROOT_ID + 1;
};

// Counts read requests by size: bucket i holds sizes in (2^(i-1), 2^i]. Lock-free.
struct ReadStats {
  std::array<std::atomic<uint64_t>, 64> buckets{};

  void add(size_t size) {
    buckets[std::bit_width(size - (size > 0)) % 64].fetch_add(1, std::memory_order_relaxed);
  }
  void print() const {
    std::fprintf(stderr, "passthrough read requests by size:\n");
    for (size_t i = 0; i < buckets.size(); ++i)
      if (const auto n = buckets[i].load())
        std::fprintf(stderr, "  <= %zu KiB: %lu\n", (size_t{1} << i) / 1024, n);
  }
};

// The session's user data, shared by all FUSE threads.
struct Fs {
  Inodes inodes;
  ReadStats stats;
  static Fs& of(fuse_req_t req) { return *static_cast<Fs*>(fuse_req_userdata(req)); }
};

void pt_init(void*, fuse_conn_info* conn) {
  // Splice file data straight into /dev/fuse; let the kernel keep several reads in flight.
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // The data never changes: no invalidation on attribute changes. max_pages is left to libfuse
  // 3.14, which derives it from max_write: read requests can be 1 MiB.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::string dir;
  if (!Fs::of(req).inodes.path(parent, dir)) return (void)fuse_reply_err(req, ESTALE);
  fuse_entry_param e{};
  const std::string path = dir + "/" + name;
  if (lstat(path.c_str(), &e.attr) != 0) return (void)fuse_reply_err(req, errno);
  e.ino = Fs::of(req).inodes.remember(path, e.attr);
  e.attr.st_ino = e.ino;
  e.attr_timeout = e.entry_timeout = kTimeout;
  fuse_reply_entry(req, &e);
}

void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Fs::of(req).inodes.forget(ino, nlookup);
  fuse_reply_none(req);
}

void pt_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  std::string path;
  struct stat st {};
  if (!Fs::of(req).inodes.path(ino, path)) return (void)fuse_reply_err(req, ESTALE);
  if (lstat(path.c_str(), &st) != 0) return (void)fuse_reply_err(req, errno);
  st.st_ino = ino;
  fuse_reply_attr(req, &st, kTimeout);
}

void pt_readlink(fuse_req_t req, fuse_ino_t ino) {
  std::string path;
  char target[PATH_MAX];
  if (!Fs::of(req).inodes.path(ino, path)) return (void)fuse_reply_err(req, ESTALE);
  const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
  if (n < 0) return (void)fuse_reply_err(req, errno);
  target[n] = '\0';
  fuse_reply_readlink(req, target);
}

void pt_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return (void)fuse_reply_err(req, EROFS);
  std::string path;
  if (!Fs::of(req).inodes.path(ino, path)) return (void)fuse_reply_err(req, ESTALE);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  fi->fh = static_cast<uint64_t>(fd);
  fi->keep_cache = 1;  // pages cached by an earlier open stay valid
  fi->noflush = 1;
  if (fuse_reply_open(req, fi) != 0) close(fd);
}

// The reply names the fd and offset; libfuse splices (or preads) straight from the file.
void pt_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Fs::of(req).stats.add(size);
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = static_cast<int>(fi->fh);
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void pt_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  close(static_cast<int>(fi->fh));
  fuse_reply_err(req, 0);
}

void pt_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::string path;
  if (!Fs::of(req).inodes.path(ino, path)) return (void)fuse_reply_err(req, ESTALE);
  DIR* dir = opendir(path.c_str());
  if (!dir) return (void)fuse_reply_err(req, errno);
  fi->fh = reinterpret_cast<uint64_t>(dir);
  fi->cache_readdir = 1;
  if (fuse_reply_open(req, fi) != 0) closedir(dir);
}

// Plain readdir: name, type and backing inode number; offsets are telldir() cookies.
void pt_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  DIR* dir = reinterpret_cast<DIR*>(fi->fh);
  std::string out(size, '\0');
  size_t used = 0;
  seekdir(dir, off);
  errno = 0;
  for (dirent* d; (d = readdir(dir)) != nullptr; errno = 0) {
    struct stat st {};
    st.st_ino = d->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(d->d_type));
    const size_t n =
        fuse_add_direntry(req, out.data() + used, size - used, d->d_name, &st, telldir(dir));
    if (n > size - used) break;  // full: this entry is returned by the next call
    used += n;
  }
  if (errno != 0) return (void)fuse_reply_err(req, errno);  // readdir failed
  fuse_reply_buf(req, out.data(), used);
}

void pt_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  closedir(reinterpret_cast<DIR*>(fi->fh));
  fuse_reply_err(req, 0);
}

void pt_statfs(fuse_req_t req, fuse_ino_t ino) {
  std::string path;
  struct statvfs sv {};
  if (!Fs::of(req).inodes.path(ino, path)) return (void)fuse_reply_err(req, ESTALE);
  if (statvfs(path.c_str(), &sv) != 0) return (void)fuse_reply_err(req, errno);
  fuse_reply_statfs(req, &sv);
}

struct CmdOptions {
  const char* source = nullptr;
  int stats = 0;
};

const fuse_opt kOptSpec[] = {{"--stats", offsetof(CmdOptions, stats), 1}, FUSE_OPT_END};

// The first non-option argument is the source directory; the rest go to libfuse.
int take_source(void* data, const char* arg, int key, fuse_args*) {
  auto* o = static_cast<CmdOptions*>(data);
  if (key == FUSE_OPT_KEY_NONOPT && o->source == nullptr) {
    o->source = arg;
    return 0;
  }
  return 1;
}

int usage(const char* prog) {
  std::fprintf(stderr, "usage: %s SOURCE_DIR MOUNTPOINT [-f] [-d] [-o OPTS] [--stats]\n", prog);
  return 2;
}

}  // namespace

int main(int argc, char* argv[]) {
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  CmdOptions cmd;
  if (fuse_opt_parse(&args, &cmd, kOptSpec, take_source) != 0 || cmd.source == nullptr)
    return usage(argv[0]);
  char* real = realpath(cmd.source, nullptr);
  if (real == nullptr) {
    std::fprintf(stderr, "%s: source directory %s: %s\n", argv[0], cmd.source,
                 std::strerror(errno));
    return 1;
  }
  Fs fs{Inodes(real), {}};
  std::free(real);

  fuse_cmdline_opts opts{};
  if (fuse_parse_cmdline(&args, &opts) != 0 || opts.mountpoint == nullptr) return usage(argv[0]);
  fuse_opt_add_arg(&args, "-oro,default_permissions,fsname=bench-passthrough");

  fuse_lowlevel_ops ops{};  // absent operations answer ENOSYS
  ops.init = pt_init;
  ops.lookup = pt_lookup;
  ops.forget = pt_forget;
  ops.getattr = pt_getattr;
  ops.readlink = pt_readlink;
  ops.open = pt_open;
  ops.read = pt_read;
  ops.release = pt_release;
  ops.opendir = pt_opendir;
  ops.readdir = pt_readdir;
  ops.releasedir = pt_releasedir;
  ops.statfs = pt_statfs;

  int rc = 1;
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &fs);
  if (se != nullptr && fuse_set_signal_handlers(se) == 0) {
    if (fuse_session_mount(se, opts.mountpoint) == 0) {
      fuse_daemonize(opts.foreground);
      fuse_loop_config* config = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(config, opts.max_threads);
      fuse_loop_cfg_set_clone_fd(config, opts.clone_fd);
      rc = opts.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, config);
      fuse_loop_cfg_destroy(config);
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  if (se != nullptr) fuse_session_destroy(se);
  if (cmd.stats) fs.stats.print();
  std::free(opts.mountpoint);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}
