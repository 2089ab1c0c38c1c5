#include "fs/inode_table.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace torfs::fs {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) parts.emplace_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

}  // namespace

std::uint64_t InodeTable::max_nodes(const FileLayout& layout) {
  std::uint64_t n = 1;
  for (const FileEntry& e : layout.files()) {
    if (!e.pad) n += 1 + static_cast<std::uint64_t>(std::count(e.path.begin(), e.path.end(), '/'));
  }
  return n;
}

bool InodeTable::all_under(const FileLayout& layout, const std::string& name) {
  const std::string prefix = name + "/";
  for (const FileEntry& e : layout.files()) {
    if (!e.pad && e.path.compare(0, prefix.size(), prefix) != 0) return false;
  }
  return !name.empty();
}

InodeTable::InodeTable(const FileLayout& layout, Ino base, bool strip_name) : base_(base) {
  nodes_.reserve(layout.num_files() + 1);
  add_node(base_, "", true, FileIndex());
  file_inos_.assign(layout.num_files(), 0);

  // Building index: (parent, name) -> ino. Dropped after construction; lookups then use the
  // sorted children vectors.
  std::map<std::pair<Ino, std::string>, Ino, std::less<>> by_name;
  for (FileIndex f(0); f.value() < layout.num_files(); ++f) {
    const FileEntry& entry = layout.file(f);
    if (entry.pad) continue;
    auto parts = split_path(entry.path);
    if (strip_name && !parts.empty()) parts.erase(parts.begin());
    if (parts.empty()) {
      warnings_.push_back("file #" + std::to_string(f.value()) + " has an empty path; not shown");
      continue;
    }
    Ino dir = base_;
    bool ok = true;
    for (std::size_t i = 0; i + 1 < parts.size() && ok; ++i) {
      auto it = by_name.find(std::pair{dir, parts[i]});
      if (it == by_name.end()) {
        const Ino d = add_node(dir, parts[i], true, FileIndex());
        by_name.emplace(std::pair{dir, parts[i]}, d);
        dir = d;
      } else if (nodes_[it->second - base_].is_dir) {
        dir = it->second;
      } else {
        ok = false;
      }
    }
    if (ok && by_name.count(std::pair{dir, parts.back()}) == 0) {
      const Ino ino = add_node(dir, parts.back(), false, f);
      by_name.emplace(std::pair{dir, parts.back()}, ino);
      file_inos_[f.value()] = ino;
      // Record the file in every ancestor directory, root included.
      for (Ino a = dir;; a = nodes_[a - base_].parent) {
        nodes_[a - base_].files_below.push_back(f);
        if (a == base_) break;
      }
    } else {
      warnings_.push_back("'" + entry.path + "' collides with another entry's path; not shown");
    }
  }
  sort_children();
  lookups_ = std::make_unique<std::atomic<std::uint64_t>[]>(nodes_.size());
}

Ino InodeTable::add_node(Ino parent, std::string name, bool is_dir, FileIndex file) {
  InodeNode n;
  n.ino = base_ + nodes_.size();
  n.parent = parent;
  n.name = std::move(name);
  n.is_dir = is_dir;
  n.file = file;
  nodes_.push_back(std::move(n));
  const Ino ino = nodes_.back().ino;
  if (ino != parent) {
    nodes_[parent - base_].children.push_back(ino);
    if (is_dir) ++nodes_[parent - base_].subdirs;
  }
  return ino;
}

void InodeTable::sort_children() {
  for (auto& n : nodes_) {
    std::sort(n.children.begin(), n.children.end(),
              [this](Ino a, Ino b) { return nodes_[a - base_].name < nodes_[b - base_].name; });
  }
}

const InodeNode* InodeTable::node(Ino ino) const {
  if (ino < base_ || ino - base_ >= nodes_.size()) return nullptr;
  return &nodes_[ino - base_];
}

const InodeNode* InodeTable::child(Ino parent, std::string_view name) const {
  const InodeNode* dir = node(parent);
  if (!dir || !dir->is_dir) return nullptr;
  auto it =
      std::lower_bound(dir->children.begin(), dir->children.end(), name,
                       [this](Ino c, std::string_view n) { return nodes_[c - base_].name < n; });
  if (it == dir->children.end() || nodes_[*it - base_].name != name) return nullptr;
  return &nodes_[*it - base_];
}

std::optional<Ino> InodeTable::ino_of(FileIndex file) const {
  if (file.value() >= file_inos_.size() || file_inos_[file.value()] == 0) return std::nullopt;
  return file_inos_[file.value()];
}

void InodeTable::add_lookup(Ino ino, std::uint64_t n) {
  if (node(ino)) lookups_[ino - base_].fetch_add(n, std::memory_order_relaxed);
}

bool InodeTable::forget(Ino ino, std::uint64_t n) {
  if (!node(ino)) return false;
  auto& count = lookups_[ino - base_];
  std::uint64_t cur = count.load(std::memory_order_relaxed);
  while (true) {
    const std::uint64_t next = cur >= n ? cur - n : 0;
    if (count.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return cur >= n;
  }
}

std::uint64_t InodeTable::lookup_count(Ino ino) const {
  return node(ino) ? lookups_[ino - base_].load(std::memory_order_relaxed) : 0;
}

}  // namespace torfs::fs
