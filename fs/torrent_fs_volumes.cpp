// TorrentFs: the volumes of a directory mount (multi mode) and its synthetic root.
//
// Locking: volumes_mutex_ (shared for FUSE handlers, exclusive for add/remove) guards only the
// two maps and next_base_; handlers copy a VolumePtr out and drop the lock before replying.
// Volume::mutex guards a volume's open-handle count and removal state. Kernel notifications
// are sent with no lock held but session_mutex_, which no FUSE handler ever takes: a
// notification may wait for a request in the same directory to finish, never the reverse.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fs/torrent_fs.hpp"

namespace torfs::fs {
namespace {

constexpr std::size_t kMaxNameBytes = 240;  // leaves room for " (NNN)" within NAME_MAX

// A name usable as one directory entry: no '/' or NUL, not "." or "..", at most kMaxNameBytes
// (cut at a UTF-8 character boundary); empty when nothing usable is left.
std::string safe_name(std::string name) {
  for (char& c : name) {
    if (c == '/' || c == '\0') c = '_';
  }
  if (name.size() > kMaxNameBytes) {
    std::size_t cut = kMaxNameBytes;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80)
      --cut;
    name.resize(cut);
  }
  if (name == "." || name == "..") return {};
  return name;
}

}  // namespace

TorrentFs::Volume::Volume(std::string name_, std::shared_ptr<TorrentView> view_, Ino base,
                          bool strip)
    : name(std::move(name_)),
      view(std::move(view_)),
      table(view->metainfo().layout, base,
            strip && InodeTable::all_under(view->metainfo().layout, view->metainfo().name)) {}

TorrentFs::Ref TorrentFs::resolve(Ino ino) const {
  if (!multi()) {
    const InodeNode* node = single_->table.node(ino);
    return node ? Ref{single_, node, false} : Ref{};
  }
  if (ino == kRootIno) return Ref{nullptr, nullptr, true};
  std::shared_lock lock(volumes_mutex_);
  auto it = by_base_.upper_bound(ino);
  if (it == by_base_.begin()) return {};
  --it;
  const InodeNode* node = it->second->table.node(ino);
  return node ? Ref{it->second, node, false} : Ref{};
}

TorrentFs::VolumePtr TorrentFs::volume_named(const std::string& name) const {
  std::shared_lock lock(volumes_mutex_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<TorrentFs::VolumePtr> TorrentFs::volume_list() const {
  std::shared_lock lock(volumes_mutex_);
  std::vector<VolumePtr> out;
  out.reserve(by_base_.size());
  for (const auto& [base, vol] : by_base_)
    out.push_back(vol);
  return out;
}

std::vector<TorrentFs::VolumeInfo> TorrentFs::volumes() const {
  std::vector<VolumeInfo> out;
  for (const VolumePtr& vol : multi() ? volume_list() : std::vector<VolumePtr>{single_}) {
    out.push_back({multi() ? vol->name : vol->view->metainfo().name, vol->view});
  }
  return out;
}

Result<std::string> TorrentFs::add_torrent(std::string preferred_name,
                                           std::shared_ptr<TorrentView> view) {
  if (!multi()) {
    return make_error(std::errc::invalid_argument,
                      "add_torrent: this filesystem serves a single torrent");
  }
  if (!view) return make_error(std::errc::invalid_argument, "add_torrent: no torrent view");
  std::string base_name = safe_name(std::move(preferred_name));
  if (base_name.empty()) base_name = to_hex(view->metainfo().info_hash);
  Ino base;
  {
    // Reserve the inode range first, so the (possibly large) tree is built without the lock.
    std::unique_lock lock(volumes_mutex_);
    base = next_base_;
    next_base_ += InodeTable::max_nodes(view->metainfo().layout);
  }
  auto vol = std::make_shared<Volume>(std::string(), std::move(view), base, true);
  {
    std::unique_lock lock(volumes_mutex_);
    std::string name = base_name;
    for (unsigned n = 2; by_name_.count(name) != 0; ++n)
      name = base_name + " (" + std::to_string(n) + ")";
    vol->name = std::move(name);
    by_name_.emplace(vol->name, vol);
    by_base_.emplace(base, vol);
  }
  // The kernel may hold a negative entry for the name, and the root's attributes (nlink).
  {
    std::lock_guard lock(session_mutex_);
    if (session_) {
      fuse_lowlevel_notify_inval_entry(session_, kRootIno, vol->name.c_str(), vol->name.size());
      fuse_lowlevel_notify_inval_inode(session_, kRootIno, 0, 0);
    }
  }
  return vol->name;
}

bool TorrentFs::remove_torrent(const std::string& name, std::function<void()> on_released) {
  if (!multi()) return false;
  VolumePtr vol;
  {
    std::unique_lock lock(volumes_mutex_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return false;
    vol = it->second;
    by_name_.erase(it);
    by_base_.erase(vol->table.root());
  }
  notify_root(vol->name);
  bool idle;
  {
    std::lock_guard lock(vol->mutex);
    vol->removed = true;
    idle = vol->open_handles == 0;
    if (!idle) vol->on_released = std::move(on_released);
  }
  if (idle && on_released) on_released();
  return true;
}

void TorrentFs::handle_closed(Volume& vol) {
  std::function<void()> released;
  {
    std::lock_guard lock(vol.mutex);
    if (vol.open_handles > 0) --vol.open_handles;
    if (vol.open_handles == 0 && vol.removed) {
      released = std::move(vol.on_released);
      vol.on_released = nullptr;  // a moved-from std::function is unspecified: run once only
    }
  }
  if (released) released();
}

void TorrentFs::notify_root(const std::string& name) {
  std::lock_guard lock(session_mutex_);
  if (!session_) return;
  // inval_entry, not notify_delete: the kernel refuses to delete a directory that still has
  // cached children (ENOTEMPTY, and libfuse prints an error), while invalidating drops the
  // name and leaves open files alone. ENOENT (nothing cached) is fine.
  fuse_lowlevel_notify_inval_entry(session_, kRootIno, name.c_str(), name.size());
  fuse_lowlevel_notify_inval_inode(session_, kRootIno, 0, 0);
}

void TorrentFs::set_session(fuse_session* se) {
  std::lock_guard lock(session_mutex_);
  session_ = se;
}

void TorrentFs::root_lookup(fuse_req_t req, const char* name) {
  const VolumePtr vol = volume_named(name);
  if (!vol) {
    fuse_entry_param e{};
    e.ino = 0;
    e.entry_timeout = options_.root_timeout;  // the name may appear any time
    return void(fuse_reply_entry(req, &e));
  }
  const InodeNode& root = *vol->table.node(vol->table.root());
  fuse_entry_param e;
  fill_entry(*vol, root, e);
  vol->table.add_lookup(root.ino);
  if (fuse_reply_entry(req, &e) != 0) vol->table.forget(root.ino, 1);
}

void TorrentFs::root_readdir(fuse_req_t req, std::size_t size, off_t off, bool plus) {
  // Offsets: 1 after ".", 2 after "..", base + 1 after the volume numbered from `base` (bases
  // are >= 2 and only grow): a listing continued after adds or removals neither repeats nor
  // skips the volumes that stayed.
  const std::vector<VolumePtr> vols = volume_list();
  std::vector<char> buf(size);
  std::size_t used = 0;
  auto add = [&](const char* name, const fuse_entry_param& e, off_t next) {
    const std::size_t len =
        plus ? fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e, next)
             : fuse_add_direntry(req, buf.data() + used, size - used, name, &e.attr, next);
    if (len > size - used) return false;
    used += len;
    return true;
  };
  fuse_entry_param dot{};
  dot.ino = kRootIno;
  root_stat(dot.attr);
  if (off < 1 && !add(".", dot, 1)) return void(fuse_reply_buf(req, buf.data(), used));
  if (off < 2 && !add("..", dot, 2)) return void(fuse_reply_buf(req, buf.data(), used));
  for (const VolumePtr& vol : vols) {
    const Ino base = vol->table.root();
    if (static_cast<Ino>(std::max<off_t>(off, 0)) >= base + 1) continue;
    fuse_entry_param e;
    fill_entry(*vol, *vol->table.node(base), e);
    if (!add(vol->name.c_str(), e, static_cast<off_t>(base + 1))) break;
    if (plus) vol->table.add_lookup(base);
  }
  fuse_reply_buf(req, buf.data(), used);
}

}  // namespace torfs::fs
