#include "tools/dir_mount.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "engine/magnet.hpp"
#include "engine/metainfo.hpp"

namespace torfs::tools {
namespace {

namespace stdfs = std::filesystem;

constexpr std::size_t kMaxMagnetFile = 64 * 1024;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The magnet of a .magnet file: its first non-empty line, which must be a magnet: URI.
Result<Magnet> load_magnet_file(const stdfs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_errno_error(errno, "cannot open " + path.string());
  std::string text(kMaxMagnetFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxMagnetFile) {
    return make_error(std::errc::value_too_large, path.string() + " is larger than 64 KiB");
  }
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
      if (line.rfind("magnet:", 0) != 0) {
        return make_error(std::errc::invalid_argument,
                          path.string() + ": the first line is not a magnet: URI");
      }
      auto magnet = parse_magnet(line);
      if (!magnet) {
        return make_error(std::errc::invalid_argument,
                          path.string() + ": bad magnet link: " + magnet.error().message);
      }
      return magnet;
    }
    start = end + 1;
  }
  return make_error(std::errc::invalid_argument, path.string() + " is empty");
}

// Creates a torrent's data directory (0700), refusing a symlink planted in its place.
Result<void> make_data_dir(const stdfs::path& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_errno_error(errno, "cannot create data directory " + dir.string());
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return make_errno_error(errno, "cannot stat " + dir.string());
  if (!S_ISDIR(st.st_mode)) {
    return make_error(std::errc::not_a_directory,
                      dir.string() + " is not a directory (a symlink?); refusing to use it");
  }
  return {};
}

}  // namespace

DirMount::DirMount(Session& session, fs::TorrentFs& fs, DirMountConfig config)
    : session_(session), fs_(fs), config_(std::move(config)) {}

DirMount::~DirMount() {
  stop();
}

void DirMount::say(LogLevel level, const std::string& message) const {
  if (config_.log) config_.log(level, message);
}

std::size_t DirMount::scan() {
  std::set<std::string> present;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(config_.dir, ec)) {
    std::error_code tec;
    if (e.is_regular_file(tec)) present.insert(e.path().filename().string());
  }
  if (ec) say(LogLevel::warning, "cannot list " + config_.dir.string() + ": " + ec.message());
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [file, entry] : files_) {
      if (!present.count(file)) gone.push_back(file);
    }
  }
  for (const auto& file : gone)
    file_removed(file);
  {
    std::lock_guard lock(mutex_);
    std::erase_if(rejected_, [&](const std::string& f) { return !present.count(f); });
  }
  for (const auto& file : present) {
    bool known;
    {
      std::lock_guard lock(mutex_);
      known = files_.count(file) != 0 || rejected_.count(file) != 0;
    }
    if (!known) file_changed(file);
  }
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      files_.begin(), files_.end(), [](const auto& f) { return f.second.torrent != nullptr; }));
}

std::size_t DirMount::pending() const {
  std::lock_guard lock(mutex_);
  return fetching_;
}

bool DirMount::duplicate_locked(const Sha1Hash& hash, const std::string& file) const {
  for (const auto& [other, entry] : files_) {
    if (other != file && entry.info_hash == hash) {
      say(LogLevel::warning, "skipping " + (config_.dir / file).string() + ": same torrent (" +
                                 to_hex(hash) + ") as " + other);
      return true;
    }
  }
  return false;
}

void DirMount::file_changed(const std::string& file) {
  if (file.empty() || file[0] == '.') return;  // hidden: editors' and downloaders' temp files
  {
    // Skipped files are reported once; a new version of one (an event) is looked at again.
    std::lock_guard lock(mutex_);
    rejected_.erase(file);
  }
  const bool is_torrent = ends_with(file, ".torrent");
  if (!is_torrent && !ends_with(file, ".magnet")) {
    say(LogLevel::info,
        "ignoring " + (config_.dir / file).string() + ": not a .torrent or .magnet file");
    std::lock_guard lock(mutex_);
    rejected_.insert(file);
    return;
  }
  const stdfs::path path = config_.dir / file;
  std::optional<Metainfo> meta;
  std::optional<Magnet> magnet;
  Error error;
  if (is_torrent) {
    auto loaded = load_metainfo_file(path);
    if (loaded)
      meta = std::move(*loaded);
    else
      error = loaded.error();
  } else {
    auto loaded = load_magnet_file(path);
    if (loaded)
      magnet = std::move(*loaded);
    else
      error = loaded.error();
  }
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  auto it = files_.find(file);
  if (!meta && !magnet) {
    say(LogLevel::warning, "skipping a file: " + error.message);  // the error names it
    rejected_.insert(file);
    if (it != files_.end()) drop_locked(file);  // rewritten with something unusable
    return;
  }
  const Sha1Hash hash = meta ? meta->info_hash : magnet->info_hash;
  if (it != files_.end()) {
    if (it->second.info_hash == hash) return;  // rewritten with the same torrent
    drop_locked(file);
  }
  if (duplicate_locked(hash, file)) {
    rejected_.insert(file);
    return;
  }
  Entry& entry = files_[file];
  entry.info_hash = hash;
  entry.generation = next_generation_++;
  if (meta) return add_locked(file, std::move(*meta), false, entry.generation);
  ++fetching_;
  say(LogLevel::info, "fetching the metadata of " + path.string() + "...");
  // Threads of fetches that ended are joined now (they only have to exit), so a long-lived
  // mount that sees many magnets keeps no dead threads around.
  std::erase_if(fetchers_, [](Fetcher& f) {
    if (!f.done->load()) return false;
    f.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  fetchers_.push_back(
      {std::thread([this, file, m = std::move(*magnet), g = entry.generation, done] {
         fetch_magnet(file, m, g);
         done->store(true);  // last: nothing after this needs a lock
       }),
       done});
}

void DirMount::add_locked(const std::string& file, Metainfo meta, bool store_metainfo,
                          std::uint64_t generation) {
  auto it = files_.find(file);
  if (it == files_.end() || it->second.generation != generation) return;  // gone meanwhile
  const std::string where = (config_.dir / file).string();
  auto fail = [&](const std::string& message) {
    say(LogLevel::warning, "skipping " + where + ": " + message);
    files_.erase(it);
    rejected_.insert(file);
  };
  TorrentConfig tconfig = config_.torrent;
  tconfig.data_dir = config_.data_base / to_hex(meta.info_hash);
  tconfig.store_metainfo = store_metainfo;
  if (auto made = make_data_dir(tconfig.data_dir); !made) return fail(made.error().message);
  const std::string preferred = meta.name;
  auto added = session_.add_torrent(std::move(meta), tconfig);
  if (!added) return fail("cannot add the torrent: " + added.error().message);
  std::shared_ptr<Torrent> torrent = *added;
  auto name = fs_.add_torrent(preferred, torrent);
  if (!name) {
    session_.remove_torrent(torrent);
    return fail(name.error().message);
  }
  auto log = config_.log;
  torrent->on_error([log, n = *name](const Error& e) {
    if (log) log(LogLevel::error, n + ": " + e.message);
  });
  it->second.name = *name;
  it->second.torrent = std::move(torrent);
  say(LogLevel::info, "added " + where + " as " + *name);
}

void DirMount::fetch_magnet(const std::string& file, Magnet magnet, std::uint64_t generation) {
  auto meta = session_.fetch_metadata(magnet, config_.metadata);
  std::lock_guard lock(mutex_);
  --fetching_;
  if (stopping_) return;
  auto it = files_.find(file);
  if (it == files_.end() || it->second.generation != generation) return;
  if (!meta) {
    say(LogLevel::warning, "skipping " + (config_.dir / file).string() +
                               ": cannot get its metadata: " + meta.error().message);
    files_.erase(it);
    rejected_.insert(file);
    return;
  }
  add_locked(file, std::move(*meta), true, generation);
}

void DirMount::file_removed(const std::string& file) {
  std::lock_guard lock(mutex_);
  rejected_.erase(file);
  if (!stopping_ && files_.count(file)) drop_locked(file);
}

void DirMount::drop_locked(const std::string& file) {
  auto it = files_.find(file);
  if (it == files_.end()) return;
  Entry entry = std::move(it->second);
  files_.erase(it);
  if (!entry.torrent) return;  // a magnet still fetching: its result is dropped on arrival
  say(LogLevel::info, "removing " + entry.name + " (" + file + " is gone)");
  // The session lets go of the torrent only once the mount's last reader of it is done.
  fs_.remove_torrent(entry.name,
                     [this, torrent = entry.torrent] { session_.remove_torrent(torrent); });
}

Result<void> DirMount::start_watching() {
  const int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return make_errno_error(errno, "inotify");
  if (inotify_add_watch(fd, config_.dir.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) <
      0) {
    const int err = errno;
    ::close(fd);
    return make_errno_error(err, "cannot watch " + config_.dir.string());
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    const int err = errno;
    ::close(fd);
    return make_errno_error(err, "eventfd");
  }
  watcher_ = std::thread([this, fd] { watch_loop(fd); });
  // Files that arrived between scan() and the watch.
  scan();
  return {};
}

void DirMount::watch_loop(int inotify_fd) {
  alignas(inotify_event) char buf[16 * 1024];
  while (true) {
    pollfd fds[2] = {{inotify_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      say(LogLevel::error, std::string("inotify poll: ") + std::strerror(errno));
      break;
    }
    if (fds[1].revents) break;
    const ssize_t n = ::read(inotify_fd, buf, sizeof buf);
    if (n <= 0) continue;
    bool rescan = false;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) rescan = true;
      if (ev->mask & IN_IGNORED) {
        say(LogLevel::warning, config_.dir.string() + " is gone; the mount keeps what it has");
      }
      if (ev->len == 0 || (ev->mask & IN_ISDIR)) continue;
      const std::string name(ev->name);
      try {
        if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) file_changed(name);
        if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) file_removed(name);
      } catch (const std::exception& e) {
        say(LogLevel::error, "while handling " + name + ": " + e.what());
      }
    }
    if (rescan) scan();  // events were lost: compare the directory with what is mounted
  }
  ::close(inotify_fd);
}

void DirMount::stop_watching() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof one) < 0) {
      // Cannot fail for an eventfd below its maximum; nothing else would wake the watcher.
    }
  }
  if (watcher_.joinable()) watcher_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

void DirMount::stop() {
  stop_watching();
  std::vector<Fetcher> fetchers;
  {
    std::lock_guard lock(mutex_);
    fetchers.swap(fetchers_);  // no new ones: stopping_ is set
  }
  for (auto& f : fetchers)
    f.thread.join();
}

TorrentLister make_torrent_lister(const fs::TorrentFs& fs) {
  return [&fs] {
    std::vector<MountedTorrent> out;
    for (auto& v : fs.volumes())
      out.push_back({v.name, v.view});
    return out;
  };
}

}  // namespace torfs::tools
