// torfs mount SOURCE MOUNTPOINT [-f] [--data-dir DIR] [--state-db PATH] [--listen ADDR:PORT]
//             [--peer ADDR:PORT]... [--read-timeout SECONDS] [--on-demand] [--no-trackers]
//             [--log FILE] [-o OPTIONS]
// Mounts a torrent read-only: every file is visible at once; reads of data not yet downloaded
// wait for it (fetched first, with a deadline). When SOURCE is a directory of .torrent and
// .magnet files, every torrent in it gets a directory in the mount, kept in step with the
// directory while mounted (tools/dir_mount.hpp). Without -f the command daemonizes and returns
// only once the mount is live (or prints why it failed). Unmount with `fusermount3 -u`,
// `umount`, or SIGINT/SIGTERM/SIGHUP to the torfs process.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/metainfo.hpp"
#include "engine/session.hpp"
#include "fs/mount.hpp"
#include "fs/torrent_fs.hpp"
#include "tools/command.hpp"
#include "tools/dir_mount.hpp"
#include "tools/magnet_source.hpp"
#include "tools/session_options.hpp"
#include "tools/size_option.hpp"
#include "tools/status_channel.hpp"

namespace torfs::tools {
namespace {

namespace stdfs = std::filesystem;

struct MountArgs {
  std::string source;
  std::string mountpoint;
  bool foreground = false;
  std::string data_dir;
  double read_timeout = 60;
  bool on_demand = false;
  std::uint64_t cache_size = 0;  // --cache-size, bytes; 0 = unlimited
  std::vector<std::string> fuse_options;
  std::string log_file;
  SessionArgs session;
  PeerDiscoveryArgs discovery;
};

// Where the result of start-up goes: the daemon's parent (through a pipe) or, in the
// foreground, stderr. report() is called at most once and may run on a FUSE thread.
class StartupReport {
 public:
  explicit StartupReport(int fd) : fd_(fd) {}
  // A progress line for the user while start-up takes long (e.g. fetching a magnet's
  // metadata): the parent prints it. Engine thread or main thread; not after report().
  void progress(const std::string& message) {
    const int fd = fd_.load();
    if (fd == -2) return;
    if (fd < 0) {
      std::fprintf(stderr, "torfs: %s\n", message.c_str());
      return;
    }
    const std::string line = "MSG " + message + "\n";
    if (::write(fd, line.data(), line.size()) < 0) {
      // The parent is gone; nobody is reading.
    }
  }
  void report(bool ok, const std::string& message) {
    const int fd = fd_.exchange(-2);
    if (fd == -2) return;
    if (fd < 0) {
      // Foreground: failures are printed by fail(); only success needs saying.
      if (ok) std::fprintf(stderr, "torfs: %s\n", message.c_str());
      return;
    }
    const std::string line = (ok ? "OK " : "ERR ") + message;
    if (::write(fd, line.data(), line.size()) < 0) {
      // The parent is gone; nobody is waiting for the answer.
    }
    ::close(fd);
  }

 private:
  std::atomic<int> fd_;
};

void log_line(bool verbose, LogLevel level, std::string_view line) {
  if (level == LogLevel::debug && !verbose) return;
  static const char* names[] = {"debug", "info", "warning", "error"};
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%F %T", std::localtime(&now));
  std::fprintf(stderr, "%s torfs: %s: %.*s\n", when, names[static_cast<int>(level)],
               static_cast<int>(line.size()), line.data());
}

stdfs::path xdg_data_home() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x == '/') return x;
  const char* home = std::getenv("HOME");
  return stdfs::path(home && *home ? home : "/") / ".local" / "share";
}

// Creates `dir` and missing parents below `base` privately (0700), refusing symlinks planted
// where our directories should be.
void make_private_dirs(const stdfs::path& base, const stdfs::path& dir) {
  std::error_code ec;
  stdfs::create_directories(base, ec);
  stdfs::path cur = base;
  // lexically: stdfs::relative would resolve (follow) the very symlinks refused below.
  for (const auto& part : dir.lexically_relative(base)) {
    cur /= part;
    struct stat st;
    if (lstat(cur.c_str(), &st) == 0) {
      if (S_ISLNK(st.st_mode)) fail(cur.string() + " is a symlink; refusing to use it", 1);
      if (!S_ISDIR(st.st_mode)) fail(cur.string() + " exists and is not a directory", 1);
      continue;
    }
    if (mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
      fail("cannot create " + cur.string() + ": " + std::strerror(errno), 1);
    }
  }
}

// Splits "-o a,b" values and takes out the options torfs handles itself.
std::vector<std::string> split_options(const std::vector<std::string>& raw, bool& nonempty) {
  std::vector<std::string> out;
  for (const auto& group : raw) {
    std::size_t start = 0;
    while (start <= group.size()) {
      const std::size_t comma = group.find(',', start);
      const std::string opt =
          group.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (opt == "nonempty") {
        nonempty = true;
      } else if (!opt.empty()) {
        out.push_back(opt);
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

void check_mountpoint(const stdfs::path& mp, bool nonempty) {
  std::error_code ec;
  const auto status = stdfs::status(mp, ec);
  if (ec || !stdfs::exists(status)) fail("mountpoint " + mp.string() + " does not exist", 1);
  if (!stdfs::is_directory(status)) fail("mountpoint " + mp.string() + " is not a directory", 1);
  if (!nonempty && !stdfs::is_empty(mp, ec)) {
    fail("mountpoint " + mp.string() + " is not empty (use -o nonempty to mount over it)", 1);
  }
  if (ec) fail("cannot read mountpoint " + mp.string() + ": " + ec.message(), 1);
}

// Detaches into the background. Returns in the child with the write end of the start-up pipe;
// the parent never returns: it exits 0 once the child reports a live mount, 1 otherwise.
int daemonize(const std::string& log_file) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) fail(std::string("pipe: ") + std::strerror(errno), 1);
  const pid_t pid = fork();
  if (pid < 0) fail(std::string("fork: ") + std::strerror(errno), 1);
  if (pid > 0) {
    ::close(fds[1]);
    std::string answer;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      answer.append(buf, static_cast<std::size_t>(n));
      // "MSG text\n" lines are progress for the user; the final answer follows them.
      for (std::size_t nl;
           answer.rfind("MSG ", 0) == 0 && (nl = answer.find('\n')) != answer.npos;) {
        std::fprintf(stderr, "torfs: %s\n", answer.substr(4, nl - 4).c_str());
        answer.erase(0, nl + 1);
      }
    }
    if (answer.rfind("OK", 0) == 0) std::exit(0);
    if (answer.rfind("ERR ", 0) == 0) fail(answer.substr(4), 1);
    fail("the mount process exited before the mount was ready" +
             (log_file.empty() ? std::string() : " (see " + log_file + ")"),
         1);
  }
  ::close(fds[0]);
  setsid();
  const int in = ::open("/dev/null", O_RDONLY);
  const int out = log_file.empty() ? ::open("/dev/null", O_WRONLY)
                                   : ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (in >= 0) dup2(in, STDIN_FILENO);
  if (out >= 0) {
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
  }
  if (in > 2) ::close(in);
  if (out > 2) ::close(out);
  if (chdir("/") != 0) {
    // Paths are absolute by now; staying in the old directory only pins it.
  }
  return fds[1];
}

SessionConfig mount_session_config(const MountArgs& args) {
  SessionConfig config = session_config(args.session);
  config.cache_size = args.cache_size;
  apply_peer_discovery(args.discovery, config);
  const bool verbose = args.session.verbose;
  config.log = [verbose](LogLevel level, std::string_view line) { log_line(verbose, level, line); };
  return config;
}

fs::FsOptions fs_options(const MountArgs& args, std::int64_t time) {
  fs::FsOptions options;
  options.read_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(args.read_timeout * 1000));
  options.uid = getuid();
  options.gid = getgid();
  options.time = time;
  return options;
}

// Everything after the fork: engine, filesystem, mount, session loop.
void serve(const MountArgs& args, std::optional<Metainfo> source_meta,
           const std::optional<Magnet>& magnet, const stdfs::path& mountpoint,
           const stdfs::path& data_dir, std::vector<std::string> fuse_options,
           StartupReport& startup) {
  auto startup_fail = [&](const std::string& message) {
    startup.report(false, message);
    fail(message, 1);
  };
  // Before any thread exists, so every thread inherits the mask; FuseMount takes the signals.
  fs::FuseMount::block_termination_signals();

  Session session(mount_session_config(args));
  if (auto r = session.start(); !r) startup_fail(r.error().message);
  Metainfo meta;
  if (magnet) {
    auto fetched = fetch_magnet_metadata(
        session, *magnet, args.session.peers, !args.session.no_trackers, args.discovery,
        [&startup](const std::string& line) { startup.progress(line); });
    if (!fetched) startup_fail(fetched.error().message);
    meta = std::move(*fetched);
  } else {
    meta = std::move(*source_meta);
  }

  TorrentConfig tconfig = torrent_config(args.session);
  tconfig.data_dir = data_dir;
  tconfig.on_demand = args.on_demand;
  tconfig.store_metainfo = magnet.has_value();
  const std::string name = meta.name;
  const std::int64_t created = meta.creation_date.value_or(std::time(nullptr));
  auto added = session.add_torrent(std::move(meta), tconfig);
  if (!added) startup_fail("cannot add " + args.source + ": " + added.error().message);
  std::shared_ptr<Torrent> torrent = *added;
  torrent->on_error([](const Error& e) { log_line(true, LogLevel::error, e.message); });

  fs::FsOptions options = fs_options(args, created);
  const std::string ready = name + " mounted on " + mountpoint.string();
  options.on_init = [&startup, ready] { startup.report(true, ready); };
  fs::TorrentFs filesystem(*torrent, options);

  fs::MountOptions mount_options;
  mount_options.mountpoint = mountpoint;
  mount_options.fuse_options = std::move(fuse_options);
  mount_options.handle_signals = true;
  auto mount = fs::FuseMount::mount(filesystem, mount_options);
  if (!mount) startup_fail(mount.error().message);
  // The control channel of `torfs status` lives while the mount serves requests.
  auto status_channel = start_status_channel(
      mountpoint,
      [torrent, name] {
        return std::vector<MountedTorrent>{{name, torrent}};
      },
      session.listen_port(), [](const std::string& m) { log_line(true, LogLevel::warning, m); });
  const Result<void> ran = (*mount)->run();
  // Stopped before the torrent and the session go away.
  status_channel.reset();
  mount->reset();         // unmounts if needed, destroys the FUSE session
  filesystem.shutdown();  // nothing parked survives (run() did it already; idempotent)
  session.stop();
  log_line(true, LogLevel::info, "unmounted " + mountpoint.string());
  if (!ran) fail(ran.error().message, 1);
}

// --- directory mounts -------------------------------------------------------------------

// Like serve(), for a directory of torrents: one session, a multi-mode TorrentFs, a DirMount
// keeping the two in step with the directory.
void serve_dir(const MountArgs& args, const stdfs::path& dir, const stdfs::path& mountpoint,
               const stdfs::path& data_base, std::vector<std::string> fuse_options,
               StartupReport& startup) {
  auto startup_fail = [&](const std::string& message) {
    startup.report(false, message);
    fail(message, 1);
  };
  fs::FuseMount::block_termination_signals();  // before any thread, as in serve()
  Session session(mount_session_config(args));
  if (auto r = session.start(); !r) startup_fail(r.error().message);

  std::string ready;  // written before the mount exists, read at INIT
  fs::FsOptions options = fs_options(args, std::time(nullptr));
  options.on_init = [&startup, &ready] { startup.report(true, ready); };
  fs::TorrentFs filesystem(options);

  DirMountConfig dconfig;
  dconfig.dir = dir;
  dconfig.data_base = data_base;
  dconfig.torrent = torrent_config(args.session);
  dconfig.torrent.on_demand = args.on_demand;
  dconfig.metadata.peers = args.session.peers;
  dconfig.metadata.use_trackers = !args.session.no_trackers;
  dconfig.metadata.use_dht = !args.discovery.no_dht;
  dconfig.metadata.timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(args.discovery.metadata_timeout * 1000));
  const bool verbose = args.session.verbose;
  dconfig.log = [verbose](LogLevel level, const std::string& m) { log_line(verbose, level, m); };
  DirMount dirs(session, filesystem, dconfig);
  // From here on a failure stops the session first: it ends magnet fetches, which the
  // DirMount's destructor waits for.
  auto fail_stopping = [&](const std::string& message) {
    session.stop();
    startup_fail(message);
  };
  const std::size_t added = dirs.scan();
  if (auto watching = dirs.start_watching(); !watching) fail_stopping(watching.error().message);
  ready = dir.string() + " mounted on " + mountpoint.string() + " (" + std::to_string(added) +
          (added == 1 ? " torrent" : " torrents");
  if (const std::size_t fetching = dirs.pending()) {
    ready += ", " + std::to_string(fetching) + " magnet" + (fetching == 1 ? "" : "s") +
             " fetching metadata";
  }
  ready += ")";

  fs::MountOptions mount_options;
  mount_options.mountpoint = mountpoint;
  mount_options.fuse_options = std::move(fuse_options);
  mount_options.handle_signals = true;
  auto mount = fs::FuseMount::mount(filesystem, mount_options);
  if (!mount) fail_stopping(mount.error().message);
  // The control channel of `torfs status` lives while the mount serves requests.
  auto status_channel =
      start_status_channel(mountpoint, make_torrent_lister(filesystem), session.listen_port(),
                           [](const std::string& m) { log_line(true, LogLevel::warning, m); });
  const Result<void> ran = (*mount)->run();
  dirs.stop_watching();    // nothing is added or removed from here on
  status_channel.reset();  // before the torrents and the session go away
  mount->reset();
  filesystem.shutdown();
  session.stop();  // also ends magnet fetches still running
  dirs.stop();
  log_line(true, LogLevel::info, "unmounted " + mountpoint.string());
  if (!ran) fail(ran.error().message, 1);
}

void check_can_mount(const MountArgs& args) {
  if (!(args.read_timeout > 0)) fail("--read-timeout must be a positive number of seconds", 2);
  if (!(args.discovery.metadata_timeout > 0)) {
    fail("--metadata-timeout must be a positive number", 2);
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    fail("/dev/fuse is not usable (" + std::string(std::strerror(errno)) +
             "): is the fuse module loaded and are you allowed to use it?",
         1);
  }
}

// The directory for torrent data: --data-dir (created), or `default_dir` (below
// $XDG_DATA_HOME, created privately, symlinks refused).
stdfs::path data_location(const MountArgs& args, const stdfs::path& default_dir) {
  if (args.data_dir.empty()) {
    make_private_dirs(xdg_data_home(), default_dir);
    return default_dir;
  }
  const stdfs::path dir = stdfs::absolute(args.data_dir);
  std::error_code ec;
  stdfs::create_directories(dir, ec);
  if (ec) fail("cannot create data directory " + dir.string() + ": " + ec.message(), 1);
  return dir;
}

// The arguments with every path made absolute: the daemon runs in /.
MountArgs with_absolute_paths(const MountArgs& args) {
  MountArgs resolved = args;
  if (!resolved.session.state_db.empty()) {
    resolved.session.state_db = stdfs::absolute(resolved.session.state_db).string();
  }
  if (!resolved.log_file.empty()) resolved.log_file = stdfs::absolute(resolved.log_file).string();
  return resolved;
}

void run_dir(const MountArgs& args) {
  check_can_mount(args);
  std::error_code ec;
  const stdfs::path dir = stdfs::canonical(args.source, ec);
  if (ec) fail("cannot use directory " + args.source + ": " + ec.message(), 2);
  bool nonempty = false;
  auto fuse_options = split_options(args.fuse_options, nonempty);
  check_mountpoint(args.mountpoint, nonempty);
  const stdfs::path mountpoint = stdfs::canonical(args.mountpoint);
  if (mountpoint == dir) fail("the mountpoint cannot be the watched directory itself", 2);

  // Each torrent's data goes to <base>/<info-hash>, created when the torrent is added.
  const stdfs::path data_base = data_location(args, xdg_data_home() / "torfs" / "data");
  const MountArgs resolved = with_absolute_paths(args);
  const int report_fd = args.foreground ? -1 : daemonize(resolved.log_file);
  StartupReport startup(report_fd);
  serve_dir(resolved, dir, mountpoint, data_base, std::move(fuse_options), startup);
}

void run(const MountArgs& args) {
  std::error_code dir_ec;
  if (stdfs::is_directory(args.source, dir_ec)) return run_dir(args);
  const std::optional<Magnet> magnet = magnet_source(args.source, args.discovery);
  std::optional<Metainfo> meta;
  if (!magnet) {
    meta = load_torrent_source(args.source);
  }
  const Sha1Hash info_hash = magnet ? magnet->info_hash : meta->info_hash;
  check_can_mount(args);
  bool nonempty = false;
  auto fuse_options = split_options(args.fuse_options, nonempty);
  check_mountpoint(args.mountpoint, nonempty);
  const stdfs::path mountpoint = stdfs::canonical(args.mountpoint);

  const stdfs::path data_dir =
      data_location(args, xdg_data_home() / "torfs" / "data" / to_hex(info_hash));
  const MountArgs resolved = with_absolute_paths(args);

  // Fork before any thread exists (engine, FUSE): only the forking thread survives a fork.
  const int report_fd = args.foreground ? -1 : daemonize(resolved.log_file);
  StartupReport startup(report_fd);
  serve(resolved, std::move(meta), magnet, mountpoint, data_dir, std::move(fuse_options), startup);
}

void setup(CLI::App& app) {
  auto args = std::make_shared<MountArgs>();
  auto* cmd = app.add_subcommand("mount", "Mount a torrent as a read-only filesystem");
  cmd->add_option("source", args->source,
                  "The .torrent file, its http(s) URL, a magnet: link, or a directory of "
                  ".torrent and .magnet files (one directory per torrent in the mount, kept in "
                  "step with the directory while mounted)")
      ->required();
  cmd->add_option("mountpoint", args->mountpoint, "An empty directory to mount on")->required();
  cmd->add_flag("-f,--foreground", args->foreground, "Stay in the foreground (do not daemonize)");
  cmd->add_option("--data-dir", args->data_dir,
                  "Where the torrent's files are stored (default "
                  "$XDG_DATA_HOME/torfs/data/<info-hash>); for a directory SOURCE, each "
                  "torrent's files go to DATA_DIR/<info-hash>");
  cmd->add_option("--read-timeout", args->read_timeout,
                  "Seconds a read waits for missing data before failing with EIO")
      ->capture_default_str();
  add_size_option(*cmd, "--cache-size", args->cache_size,
                  "Keep at most SIZE of verified data on disk (e.g. 8G; K/M/G/T, KiB...): least "
                  "recently read pieces are evicted; 0 = unlimited");
  cmd->add_flag("--on-demand", args->on_demand,
                "Fetch only what is read (and its readahead), not the whole torrent");
  cmd->add_option("-o", args->fuse_options,
                  "Mount options, comma-separated (allow_other, nonempty, ...), repeatable");
  cmd->add_option("--log", args->log_file, "Append the daemon's log to this file");
  add_session_options(cmd, args->session);
  add_peer_discovery_options(cmd, args->discovery);
  cmd->footer(
      "Unmount with `fusermount3 -u MOUNTPOINT` (or umount, or SIGINT/SIGTERM to torfs). Exit "
      "status: 0 once mounted (daemon) or after a clean unmount (-f), 1 on errors, 2 for an "
      "unreadable torrent or bad arguments.");
  cmd->callback([args] { run(*args); });
}

const CommandRegistration reg(60, setup);

}  // namespace
}  // namespace torfs::tools
