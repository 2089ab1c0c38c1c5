// Which bytes an eviction punches. fallocate(PUNCH_HOLE) frees only whole filesystem blocks:
// on a partial block it zeroes the bytes and keeps the block allocated. In a multi-file
// torrent, piece boundaries fall anywhere inside files, so most evicted pieces share their
// first and last block (per file) with a neighbouring piece. The rule, decided on the engine
// thread when the piece is evicted:
//
//  - A block of the piece's range that holds no other piece's bytes (bytes past the end of
//    the file belong to nobody) is punched.
//  - An edge block is punched whole only when every other piece with bytes in it is absent
//    (not verified) and idle: not downloading (which covers hashing, writing and writes
//    waiting for a retry: the picker keeps such a piece "downloading" until it passed or
//    failed), not pinned, not wanted by a parked read or a reader's window. Those pieces are
//    then held in the picker, like the evicted piece, until the punch is done: they cannot be
//    requested, so nothing writes into the block meanwhile. Their completion rows are removed
//    with the evicted pieces' (there should be none; a row must never outlive its bytes).
//  - If another piece with bytes in the block is verified, the block keeps its data; that
//    piece's own eviction later finds this one absent and punches the block then.
//  - If another piece is busy, the block is remembered and retried at the next eviction of
//    this torrent, so a block whose pieces are all absent is freed eventually.
//
// Safety never depends on the block size being right: a range is punched only where every
// byte in it belongs to the evicted piece, to a held absent piece, or to no piece at all.
#include <algorithm>

#include "engine/net/torrent_cache.hpp"
#include "engine/net/torrent_impl.hpp"

namespace torfs {

TorrentCache::BlockFate TorrentCache::edge_block_fate(FileIndex file, std::uint64_t begin,
                                                      std::uint64_t block, PieceIndex self,
                                                      std::vector<PieceIndex>& others) const {
  const FileEntry& entry = t_.metainfo_.layout.file(file);
  const std::uint64_t end = std::min(begin + block, entry.size);
  if (end <= begin) return BlockFate::punch;  // wholly past the end of the file
  const PieceRange range = t_.metainfo_.layout.pieces_for_range(entry.offset + begin, end - begin);
  const std::size_t first_other = others.size();
  bool busy = false;
  for (PieceIndex q = range.begin; q < range.end; ++q) {
    if (q == self) continue;
    const std::uint32_t i = q.value();
    if (t_.picker_.have(q)) {
      others.resize(first_other);
      return BlockFate::keep;
    }
    if (t_.picker_.is_downloading(q) || t_.pins_[i].load(std::memory_order_seq_cst) != 0 ||
        is_protected(i)) {
      busy = true;
    }
    others.push_back(q);
  }
  if (!busy) return BlockFate::punch;
  others.resize(first_other);
  return BlockFate::later;
}

bool TorrentCache::settle_edge_block(FileIndex file, std::uint64_t begin, std::uint64_t block,
                                     PieceIndex self) {
  std::vector<PieceIndex> others;
  switch (edge_block_fate(file, begin, block, self, others)) {
    case BlockFate::punch:
      hold_neighbours(others);
      return true;
    case BlockFate::later:
      pending_blocks_.emplace(file.value(), begin, block);
      return false;
    case BlockFate::keep:
      break;
  }
  return false;
}

void TorrentCache::plan_punch(PieceIndex piece) {
  const FileLayout& layout = t_.metainfo_.layout;
  visit_slices(layout, layout.piece_offset(piece), layout.piece_size(piece),
               [&](const FileSlice& s) {
                 if (layout.file(s.file).pad) return true;
                 const std::uint64_t size = layout.file(s.file).size;
                 const std::uint64_t block = t_.store_->block_size(s.file);
                 const std::uint64_t end = s.file_offset + s.length;
                 const std::uint64_t first = s.file_offset / block * block;
                 const std::uint64_t last = (end - 1) / block * block;
                 // A block is the piece's own when its bytes (up to the end of the file) lie
                 // inside the slice; otherwise it is an edge block with a neighbour in it.
                 auto own_or_settled = [&](std::uint64_t b) {
                   const bool own = b >= s.file_offset && std::min(b + block, size) <= end;
                   return own || settle_edge_block(s.file, b, block, piece);
                 };
                 const bool first_goes = own_or_settled(first);
                 const bool last_goes = last == first ? first_goes : own_or_settled(last);
                 const std::uint64_t from = first_goes ? first : first + block;
                 const std::uint64_t to = last_goes ? last + block : last;
                 if (to > from) batch_.ranges.push_back(PunchRange{s.file, from, to - from});
                 return true;
               });
}

void TorrentCache::retry_pending_blocks() {
  const PieceIndex none(t_.metainfo_.layout.num_pieces());
  for (auto it = pending_blocks_.begin(); it != pending_blocks_.end();) {
    const auto [file, begin, block] = *it;
    std::vector<PieceIndex> others;
    const BlockFate fate = edge_block_fate(FileIndex(file), begin, block, none, others);
    if (fate == BlockFate::later) {
      ++it;
      continue;
    }
    if (fate == BlockFate::punch) {
      hold_neighbours(others);
      batch_.ranges.push_back(PunchRange{FileIndex(file), begin, block});
    }
    it = pending_blocks_.erase(it);
  }
}

void TorrentCache::hold_neighbours(const std::vector<PieceIndex>& others) {
  for (PieceIndex q : others) {
    hold(q);
    batch_.neighbours.push_back(q);
  }
}

void TorrentCache::hold(PieceIndex piece) {
  if (holds_[piece.value()]++ == 0) t_.picker_.set_held(piece, true);
}

void TorrentCache::release(PieceIndex piece) {
  auto it = holds_.find(piece.value());
  if (it == holds_.end()) return;
  if (--it->second == 0) {
    holds_.erase(it);
    t_.picker_.set_held(piece, false);
  }
  t_.refresh_priority(piece.value());
}

}  // namespace torfs
