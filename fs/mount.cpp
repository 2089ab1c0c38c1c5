#include "fs/mount.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace torfs::fs {
namespace {

// Interrupts the thread blocked in fuse_session_loop_mt's sem_wait so it re-checks the exit
// flag. The handler does nothing: the EINTR is the point.
constexpr int kKickSignal = SIGUSR2;
void kick_handler(int) {}

constexpr auto kWatchInterval = std::chrono::milliseconds(100);
constexpr int kMountCheckEvery = 3;  // watch ticks between /proc/self/mountinfo checks

// Undoes the octal escapes (\040 for space...) of /proc/self/mountinfo paths.
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// "major:minor" of the last FUSE mount at `mountpoint`, if any.
std::optional<std::string> fuse_device_at(const std::filesystem::path& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::optional<std::string> found;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    if (!(fields >> id >> parent >> device >> root >> point)) continue;
    const auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream tail(line.substr(sep + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype.rfind("fuse", 0) == 0 && unescape_mount_path(point) == mountpoint.string()) {
      found = device;
    }
  }
  return found;
}

bool device_mounted(const std::string& device) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev;
    if (fields >> id >> parent >> dev && dev == device) return true;
  }
  return false;
}

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void FuseMount::block_termination_signals() {
  const sigset_t set = termination_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Result<std::unique_ptr<FuseMount>> FuseMount::mount(TorrentFs& fs, const MountOptions& options) {
  std::error_code ec;
  const auto mountpoint = std::filesystem::canonical(options.mountpoint, ec);
  if (ec) {
    return make_errno_error(ec.value(),
                            "mountpoint " + options.mountpoint.string() + ": " + ec.message());
  }
  // Read-only at the VFS level too (writes fail with EROFS before reaching us), and let the
  // kernel check permissions against the modes we report.
  std::string opts = "ro,default_permissions,fsname=" + options.fsname + ",subtype=torfs";
  for (const auto& o : options.fuse_options)
    opts += "," + o;
  std::vector<std::string> argv_storage = {"torfs", "-o", opts};
  if (options.debug) argv_storage.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : argv_storage)
    argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  const fuse_lowlevel_ops& ops = TorrentFs::operations();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &fs);
  // Parsing replaced `args` with a heap copy; the session keeps nothing of it.
  fuse_opt_free_args(&args);
  if (!se) {
    return make_error(std::errc::invalid_argument,
                      "cannot create the FUSE session (bad mount option in '" + opts + "'?)");
  }
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return make_error(std::errc::operation_not_permitted,
                      "cannot mount on " + mountpoint.string() +
                          " (is /dev/fuse usable and fusermount3 installed?)");
  }
  struct sigaction sa {};
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(kKickSignal, &sa, nullptr);

  std::unique_ptr<FuseMount> m(
      new FuseMount(fs, se, mountpoint, fuse_device_at(mountpoint), options.handle_signals));
  fs.set_session(se);  // for name-change notifications (directory mounts)
  m->max_threads_ = options.max_threads;
  m->read_ahead_kb_ = options.read_ahead_kb;
  return m;
}

FuseMount::FuseMount(TorrentFs& fs, fuse_session* se, std::filesystem::path mountpoint,
                     std::optional<std::string> device, bool handle_signals)
    : fs_(fs),
      se_(se),
      mountpoint_(std::move(mountpoint)),
      device_(std::move(device)),
      handle_signals_(handle_signals) {}

FuseMount::~FuseMount() {
  fs_.shutdown();
  bool detached;
  {
    std::lock_guard lock(mutex_);
    detached = detached_;
  }
  // After our own detach the mountpoint may hold something else: do not unmount it again.
  if (!detached) fuse_session_unmount(se_);
  fs_.set_session(nullptr);
  fuse_session_destroy(se_);
}

Result<void> FuseMount::run() {
  {
    std::lock_guard lock(mutex_);
    loop_thread_ = pthread_self();
    in_loop_ = true;
  }
  std::thread watcher([this] { watch_loop(); });
  std::thread signals;
  if (handle_signals_) signals = std::thread([this] { signal_loop(); });

  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, max_threads_);
  fuse_loop_cfg_set_clone_fd(config, 0);
  const int rc = fuse_session_loop_mt(se_, config);
  fuse_loop_cfg_destroy(config);

  {
    std::lock_guard lock(mutex_);
    in_loop_ = false;
    loop_done_ = true;
  }
  cv_.notify_all();
  watcher.join();
  if (signals.joinable()) {
    signal_exit_ = true;
    pthread_kill(signals.native_handle(), SIGTERM);  // blocked there: sigwait() takes it
    signals.join();
  }
  // Nothing may stay parked once the loop is gone.
  fs_.shutdown();
  bool stopped;
  {
    std::lock_guard lock(mutex_);
    stopped = stop_requested_;
  }
  // Nobody serves this connection any more. If it is still alive (stop() with files still
  // open on the detached mount), end it now: a request sent to it from here on would wait
  // until this process closes the device. Replacing the descriptor with /dev/null drops the
  // last reference to the FUSE device, which aborts the connection (ENOTCONN for users).
  if (stopped || (device_ && !device_mounted(*device_))) disconnect();
  if (rc != 0 && !stopped) {
    return make_errno_error(rc < 0 ? -rc : EIO,
                            "FUSE session loop for " + mountpoint_.string() + " failed");
  }
  return {};
}

void FuseMount::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_requested_) return;
    stop_requested_ = true;
  }
  // Answer parked reads first, while the connection is still there to carry the replies.
  fs_.shutdown();
  detach();
  fuse_session_exit(se_);
  cv_.notify_all();
}

void FuseMount::disconnect() {
  {
    std::lock_guard lock(mutex_);
    detached_ = true;  // the destructor must not unmount again
  }
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return;
  dup2(devnull, fuse_session_fd(se_));
  ::close(devnull);
}

void FuseMount::detach() {
  {
    std::lock_guard lock(mutex_);
    if (detached_) return;
    detached_ = true;
  }
  if (geteuid() == 0) {
    umount2(mountpoint_.c_str(), MNT_DETACH);
    return;
  }
  const char* argv[] = {"fusermount3", "-u", "-z", "-q", mountpoint_.c_str(), nullptr};
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char* const*>(argv),
                   environ) == 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void FuseMount::watch_loop() {
  std::unique_lock lock(mutex_);
  int tuned_at = 0;
  for (int tick = 1; !loop_done_; ++tick) {
    cv_.wait_for(lock, kWatchInterval);
    if (loop_done_) break;
    // The kernel sets the mount's readahead when it processes the INIT reply (sent right
    // after TorrentFs::init); set ours after that, and once more a second later in case the
    // reply was processed late.
    if (fs_.max_readahead() != 0 && (tuned_at == 0 || tick == tuned_at + 10)) {
      if (tuned_at == 0) tuned_at = tick;
      tune_readahead();
    }
    if (stop_requested_) {
      // fuse_session_exit() is only noticed when the loop thread wakes up; poke it until the
      // loop has returned (a single signal could arrive before it blocks).
      if (in_loop_) pthread_kill(loop_thread_, kKickSignal);
      continue;
    }
    if (device_ && tick % kMountCheckEvery == 0) {
      lock.unlock();
      // Lazily unmounted while files are still open: fail parked reads now rather than at
      // their deadlines, so the readers close their files and the connection can end.
      if (!device_mounted(*device_)) fs_.shutdown();
      lock.lock();
    }
  }
}

void FuseMount::tune_readahead() {
  if (read_ahead_kb_ == 0 || !device_) return;
  std::ofstream out("/sys/class/bdi/" + *device_ + "/read_ahead_kb");
  out << read_ahead_kb_;
}

void FuseMount::signal_loop() {
  const sigset_t set = termination_signals();
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (signal_exit_) return;
    stop();
  }
}

}  // namespace torfs::fs
