// InodeTable: the directory tree of one torrent, built once from its FileLayout.
//
// The tree never changes while mounted (a torrent's file list is fixed), so inode numbers are
// stable: the root is FUSE_ROOT_ID (1), then every directory and file gets the next number in
// the order it first appears in the torrent's file list. Pad files (BEP 47) are not shown.
// Paths are shown as they are laid out in the data directory: a multi-file torrent's root
// holds one directory named after the torrent, a single-file torrent's root holds the file.
//
// Volumes (directory mounts, see TorrentFs): a table may be numbered from any `base` (its root
// is `base`, the other nodes follow) so that several tables share one inode space, and with
// `strip_name` the torrent's own top directory ("name/" on every path) is left out, so the
// root holds the files directly. max_nodes() bounds the size of a table before building it,
// which lets the caller reserve a range of inode numbers up front.
//
// Lookup counts: the kernel's references (lookup, readdirplus, create...) are counted per
// inode and dropped by forget/forget_multi. Nodes are never freed while the table lives (the
// tree is immutable), so a stale count is harmless; the counts exist so the table can prove
// the kernel's bookkeeping balances (tests) and so a future dynamic tree has the hooks.
//
// Thread safety: after construction everything is read-only except the lookup counts, which
// are atomics; every member may be called from any FUSE thread concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_layout.hpp"
#include "cache/index.hpp"

namespace torfs::fs {

using Ino = std::uint64_t;
inline constexpr Ino kRootIno = 1;

struct InodeNode {
  Ino ino = 0;
  Ino parent = 0;    // the root's parent is itself
  std::string name;  // empty for the root
  bool is_dir = false;
  FileIndex file;  // valid when !is_dir
  std::uint32_t subdirs = 0;
  // Children sorted by name (for binary-search lookup); readdir order is this order.
  std::vector<Ino> children;
  // Files anywhere below this directory, in torrent order (for progress xattrs). Empty for files.
  std::vector<FileIndex> files_below;
};

class InodeTable {
 public:
  // Builds the tree. Entries whose path collides with another entry's (a file where a
  // directory is needed, or the reverse) are left out and reported in warnings().
  explicit InodeTable(const FileLayout& layout, Ino base = kRootIno, bool strip_name = false);
  // An upper bound of size() for a table over `layout` (one node per path component + root).
  static std::uint64_t max_nodes(const FileLayout& layout);
  // True when every shown path starts with "`name`/" (a multi-file torrent's layout).
  static bool all_under(const FileLayout& layout, const std::string& name);

  Ino root() const { return base_; }

  // nullptr when `ino` is unknown.
  const InodeNode* node(Ino ino) const;
  // The child of directory `parent` named `name`; nullptr if none (or parent is no dir).
  const InodeNode* child(Ino parent, std::string_view name) const;
  // Inode of a torrent file, nullopt for pad files and files left out.
  std::optional<Ino> ino_of(FileIndex file) const;
  std::size_t size() const { return nodes_.size(); }
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Kernel reference counting. add_lookup is called for every successful entry reply.
  void add_lookup(Ino ino, std::uint64_t n = 1);
  // Returns false (and clamps to 0) if the kernel forgets more than it looked up.
  bool forget(Ino ino, std::uint64_t n);
  std::uint64_t lookup_count(Ino ino) const;

 private:
  Ino add_node(Ino parent, std::string name, bool is_dir, FileIndex file);
  // Returns the inode of directory `name` under `parent`, creating it; nullopt if a file
  // of that name is already there.
  std::optional<Ino> ensure_dir(Ino parent, const std::string& name);
  void sort_children();

  Ino base_ = kRootIno;
  std::vector<InodeNode> nodes_;  // index = ino - base_
  std::unique_ptr<std::atomic<std::uint64_t>[]> lookups_;
  std::vector<Ino> file_inos_;  // by FileIndex; 0 = not shown
  std::vector<std::string> warnings_;
};

}  // namespace torfs::fs
