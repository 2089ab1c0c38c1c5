// TorrentFs: read-only extended attributes that report download progress.
//   user.torfs.progress      percent of the file's (directory's) bytes verified, e.g. "42.1"
//   user.torfs.pieces_total  pieces under the file (directory subtree)
//   user.torfs.pieces_have   of those, verified
//   user.torfs.info_hash     on the torrent's root only (the mount's root, or a volume's
//                            directory in a directory mount): its info-hash, 40 hex digits
// A directory mount's synthetic root has none of them.
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "fs/torrent_fs.hpp"

namespace torfs::fs {
namespace {

constexpr const char* kProgress = "user.torfs.progress";
constexpr const char* kPiecesTotal = "user.torfs.pieces_total";
constexpr const char* kPiecesHave = "user.torfs.pieces_have";
constexpr const char* kInfoHash = "user.torfs.info_hash";

struct Progress {
  std::uint64_t size = 0;
  std::uint64_t have = 0;
  std::uint32_t pieces_total = 0;
  std::uint32_t pieces_have = 0;
};

// Counts the pieces under `files` (in torrent order) once each, even where neighbouring files
// share a boundary piece.
Progress progress_of(const TorrentView& view, const std::vector<FileIndex>& files) {
  const FileLayout& layout = view.metainfo().layout;
  Progress p;
  std::optional<PieceIndex> last_counted;
  for (FileIndex f : files) {
    p.size += layout.file(f).size;
    p.have += view.file_have_bytes(f);
    const PieceRange range = layout.pieces_for_file(f);
    for (PieceIndex i = range.begin; i < range.end; ++i) {
      if (last_counted && i <= *last_counted) continue;
      last_counted = i;
      ++p.pieces_total;
      if (view.have_piece(i)) ++p.pieces_have;
    }
  }
  return p;
}

std::string percent(std::uint64_t have, std::uint64_t size) {
  // Round down so "100.0" means complete, never "almost".
  const std::uint64_t tenths = size == 0 ? 1000 : have >= size ? 1000 : have * 1000 / size;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

}  // namespace

bool TorrentFs::xattr_value(const Volume& vol, const InodeNode& node, const std::string& name,
                            std::string& value) const {
  const TorrentView& view = *vol.view;
  if (name == kInfoHash) {
    if (node.ino != vol.table.root()) return false;
    value = to_hex(view.metainfo().info_hash);
    return true;
  }
  if (name != kProgress && name != kPiecesTotal && name != kPiecesHave) return false;
  const Progress p =
      node.is_dir ? progress_of(view, node.files_below) : progress_of(view, {node.file});
  if (name == kProgress) {
    value = percent(p.have, p.size);
  } else {
    value = std::to_string(name == kPiecesTotal ? p.pieces_total : p.pieces_have);
  }
  return true;
}

void TorrentFs::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, std::size_t size) {
  const Ref ref = resolve(ino);
  if (!ref) return void(fuse_reply_err(req, ENOENT));
  std::string value;
  if (ref.synthetic_root || !xattr_value(*ref.vol, *ref.node, name, value)) {
    return void(fuse_reply_err(req, ENODATA));
  }
  if (size == 0) return void(fuse_reply_xattr(req, value.size()));  // size probe
  if (size < value.size()) return void(fuse_reply_err(req, ERANGE));
  fuse_reply_buf(req, value.data(), value.size());
}

void TorrentFs::listxattr(fuse_req_t req, fuse_ino_t ino, std::size_t size) {
  const Ref ref = resolve(ino);
  if (!ref) return void(fuse_reply_err(req, ENOENT));
  std::string names;  // NUL-separated list, NUL-terminated
  if (!ref.synthetic_root) {
    for (const char* n : {kProgress, kPiecesTotal, kPiecesHave})
      names.append(n).push_back('\0');
    if (ref.node->ino == ref.vol->table.root()) names.append(kInfoHash).push_back('\0');
  }
  if (size == 0) return void(fuse_reply_xattr(req, names.size()));
  if (size < names.size()) return void(fuse_reply_err(req, ERANGE));
  fuse_reply_buf(req, names.data(), names.size());
}

}  // namespace torfs::fs
