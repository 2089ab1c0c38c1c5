#include "engine/piece_picker.hpp"

#include <algorithm>
#include <numeric>

namespace torfs {

PiecePicker::PiecePicker(std::uint32_t num_pieces, std::uint32_t piece_length,
                         std::uint64_t total_size, std::uint32_t seed)
    : num_pieces_(num_pieces),
      piece_length_(piece_length),
      total_size_(total_size),
      have_(num_pieces),
      availability_(num_pieces, 0),
      priority_(num_pieces, static_cast<std::uint8_t>(Priority::normal)),
      deadline_(num_pieces, 0),
      rank_(num_pieces),
      held_(num_pieces, 0) {
  std::iota(rank_.begin(), rank_.end(), 0u);
  std::mt19937 rng(seed);
  std::shuffle(rank_.begin(), rank_.end(), rng);
  for (std::uint32_t p = 0; p < num_pieces_; ++p)
    order_.insert(key_of(p));
}

std::uint32_t PiecePicker::piece_size(PieceIndex p) const {
  const std::uint64_t begin = std::uint64_t{p.value()} * piece_length_;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(piece_length_, total_size_ - begin));
}

std::uint32_t PiecePicker::blocks_in_piece(PieceIndex p) const {
  return (piece_size(p) + kBlockSize - 1) / kBlockSize;
}

std::uint32_t PiecePicker::block_size(BlockRef b) const {
  return std::min(kBlockSize, piece_size(b.piece) - b.block * kBlockSize);
}

PiecePicker::Key PiecePicker::key_of(std::uint32_t p) const {
  const std::uint8_t cls = priority_[p];
  return Key{static_cast<std::uint8_t>(3 - cls),
             cls == static_cast<std::uint8_t>(Priority::now) ? deadline_[p] : 0, availability_[p],
             rank_[p], p};
}

void PiecePicker::unlink(std::uint32_t p) {
  if (wanted(p)) order_.erase(key_of(p));
}

void PiecePicker::relink(std::uint32_t p) {
  if (wanted(p)) order_.insert(key_of(p));
}

void PiecePicker::set_have(PieceIndex p) {
  if (have(p)) return;
  unlink(p.value());
  downloading_.erase(p.value());
  have_.set(p.value());
}

void PiecePicker::clear_have(PieceIndex p) {
  if (!have(p)) return;
  have_.clear(p.value());
  relink(p.value());
}

void PiecePicker::set_held(PieceIndex p, bool held) {
  const std::uint32_t i = p.value();
  if ((held_[i] != 0) == held) return;
  unlink(i);
  held_[i] = held ? 1 : 0;
  relink(i);
}

void PiecePicker::add_peer(const Bitfield& peer_has) {
  for (std::uint32_t p = 0; p < num_pieces_ && p < peer_has.size(); ++p) {
    if (!peer_has.get(p)) continue;
    unlink(p);
    ++availability_[p];
    relink(p);
  }
}

void PiecePicker::remove_peer(const Bitfield& peer_has) {
  for (std::uint32_t p = 0; p < num_pieces_ && p < peer_has.size(); ++p) {
    if (!peer_has.get(p) || availability_[p] == 0) continue;
    unlink(p);
    --availability_[p];
    relink(p);
  }
}

void PiecePicker::add_have(PieceIndex p) {
  unlink(p.value());
  ++availability_[p.value()];
  relink(p.value());
}

void PiecePicker::set_priority(PieceIndex p, Priority prio, Clock::time_point deadline) {
  const std::uint32_t i = p.value();
  const std::int64_t ticks = prio == Priority::now ? deadline.time_since_epoch().count() : 0;
  if (priority_[i] == static_cast<std::uint8_t>(prio) && deadline_[i] == ticks) return;
  unlink(i);
  priority_[i] = static_cast<std::uint8_t>(prio);
  deadline_[i] = ticks;
  relink(i);
}

bool PiecePicker::is_interesting(const Bitfield* peer_has) const {
  if (peer_has == nullptr) return !order_.empty();
  for (const Key& k : order_) {
    if (peer_has->get(k.piece)) return true;
  }
  return false;
}

PiecePicker::Downloading& PiecePicker::start(std::uint32_t p, PeerKey owner) {
  Downloading& d = downloading_[p];
  d.blocks.assign(blocks_in_piece(PieceIndex(p)), Block{});
  d.owner = owner;
  d.num_free = static_cast<std::uint32_t>(d.blocks.size());
  d.num_received = 0;
  return d;
}

bool PiecePicker::take_free(std::uint32_t p, Downloading& d, PeerKey peer, const PickOptions& opt,
                            std::vector<BlockRef>& out) {
  const std::size_t limit = opt.snubbed ? 1 : opt.max_blocks;
  for (std::uint32_t i = 0; i < d.blocks.size() && d.num_free > 0; ++i) {
    if (out.size() >= limit) return false;
    Block& b = d.blocks[i];
    if (b.state != BlockState::free) continue;
    b.state = BlockState::requested;
    b.num_requesters = 1;
    b.requesters[0] = peer;
    b.requested_at = opt.now;
    --d.num_free;
    out.push_back(BlockRef{PieceIndex(p), i});
  }
  return out.size() < limit;
}

void PiecePicker::pick_partials(std::uint8_t cls, const Bitfield* peer_has, PeerKey peer, bool own,
                                const PickOptions& opt, std::vector<BlockRef>& out) {
  std::vector<Key> candidates;
  for (const auto& [p, d] : downloading_) {
    if (d.num_free == 0 || priority_[p] != cls || (d.owner == peer) != own) continue;
    if (peer_has != nullptr && !peer_has->get(p)) continue;
    candidates.push_back(key_of(p));
  }
  std::sort(candidates.begin(), candidates.end());
  for (const Key& k : candidates) {
    if (!take_free(k.piece, downloading_[k.piece], peer, opt, out)) return;
  }
}

void PiecePicker::pick_class(std::uint8_t cls, const Bitfield* peer_has, PeerKey peer,
                             const PickOptions& opt, std::vector<BlockRef>& out, bool& held_back) {
  const std::size_t limit = opt.snubbed ? 1 : opt.max_blocks;
  const bool urgent = cls == static_cast<std::uint8_t>(Priority::now);
  pick_partials(cls, peer_has, peer, true, opt, out);
  if (urgent) pick_partials(cls, peer_has, peer, false, opt, out);
  const std::uint8_t inv = static_cast<std::uint8_t>(3 - cls);
  auto it = order_.lower_bound(Key{inv, INT64_MIN, 0, 0, 0});
  for (; it != order_.end() && it->inv_class == inv && out.size() < limit; ++it) {
    const std::uint32_t p = it->piece;
    if (peer_has != nullptr && !peer_has->get(p)) continue;
    if (downloading_.count(p) != 0) continue;
    if (!opt.allow_new_pieces || cls < static_cast<std::uint8_t>(opt.min_new_priority)) {
      held_back = true;
      break;
    }
    take_free(p, start(p, peer), peer, opt, out);
  }
  if (!urgent) pick_partials(cls, peer_has, peer, false, opt, out);
}

void PiecePicker::pick_duplicates(const Bitfield* peer_has, PeerKey peer, const PickOptions& opt,
                                  bool late_only, std::vector<BlockRef>& out) {
  const std::uint8_t max_req = late_only ? kMaxRequesters : 2;
  std::vector<Key> candidates;
  for (const auto& [p, d] : downloading_) {
    if (!wanted(p) || d.num_received == d.blocks.size()) continue;
    if (late_only && priority_[p] != static_cast<std::uint8_t>(Priority::now)) continue;
    if (peer_has != nullptr && !peer_has->get(p)) continue;
    candidates.push_back(key_of(p));
  }
  std::sort(candidates.begin(), candidates.end());
  for (const Key& k : candidates) {
    Downloading& d = downloading_[k.piece];
    for (std::uint32_t i = 0; i < d.blocks.size(); ++i) {
      if (out.size() >= opt.max_blocks) return;
      Block& b = d.blocks[i];
      if (b.state != BlockState::requested || b.num_requesters >= max_req) continue;
      if (late_only && opt.now - b.requested_at < opt.late_after) continue;
      const auto end = b.requesters.begin() + b.num_requesters;
      if (std::find(b.requesters.begin(), end, peer) != end) continue;
      b.requesters[b.num_requesters++] = peer;
      out.push_back(BlockRef{PieceIndex(k.piece), i});
    }
  }
}

void PiecePicker::pick(const Bitfield* peer_has, PeerKey peer, const PickOptions& opt,
                       std::vector<BlockRef>& out) {
  const std::size_t first = out.size();
  const std::size_t limit = first + (opt.snubbed ? 1 : opt.max_blocks);
  PickOptions local = opt;
  local.max_blocks = static_cast<std::uint32_t>(limit);
  local.snubbed = false;  // limit already applied through max_blocks
  bool held_back = false;
  for (int cls = 3; cls >= 1 && out.size() < limit; --cls) {
    pick_class(static_cast<std::uint8_t>(cls), peer_has, peer, local, out, held_back);
    if (cls == 3 && !opt.snubbed && out.size() < limit) {
      pick_duplicates(peer_has, peer, local, true, out);
    }
  }
  if (out.size() == first && !held_back && !opt.snubbed) {
    pick_duplicates(peer_has, peer, local, false, out);
  }
}

bool PiecePicker::remove_requester(Block& b, PeerKey peer) {
  const auto end = b.requesters.begin() + b.num_requesters;
  const auto it = std::find(b.requesters.begin(), end, peer);
  if (it == end) return false;
  std::copy(it + 1, end, it);
  --b.num_requesters;
  return true;
}

PiecePicker::ReceiveResult PiecePicker::mark_received(BlockRef ref, PeerKey peer) {
  ReceiveResult r;
  auto it = downloading_.find(ref.piece.value());
  if (it == downloading_.end() || ref.block >= it->second.blocks.size()) return r;
  Downloading& d = it->second;
  Block& b = d.blocks[ref.block];
  if (b.state == BlockState::received) {
    remove_requester(b, peer);
    return r;
  }
  if (b.state == BlockState::free) --d.num_free;
  remove_requester(b, peer);
  r.cancel.assign(b.requesters.begin(), b.requesters.begin() + b.num_requesters);
  b.num_requesters = 0;
  b.state = BlockState::received;
  b.sender = peer;
  ++d.num_received;
  r.accepted = true;
  r.piece_complete = d.num_received == d.blocks.size();
  return r;
}

void PiecePicker::abort_request(BlockRef ref, PeerKey peer) {
  auto it = downloading_.find(ref.piece.value());
  if (it == downloading_.end() || ref.block >= it->second.blocks.size()) return;
  Downloading& d = it->second;
  Block& b = d.blocks[ref.block];
  if (b.state != BlockState::requested || !remove_requester(b, peer)) return;
  if (b.num_requesters == 0) {
    b.state = BlockState::free;
    ++d.num_free;
    if (d.num_free == d.blocks.size()) downloading_.erase(it);
  }
}

void PiecePicker::release_peer(PeerKey peer) {
  for (auto it = downloading_.begin(); it != downloading_.end();) {
    Downloading& d = it->second;
    for (Block& b : d.blocks) {
      if (b.state != BlockState::requested || !remove_requester(b, peer)) continue;
      if (b.num_requesters == 0) {
        b.state = BlockState::free;
        ++d.num_free;
      }
    }
    if (d.owner == peer) d.owner = 0;
    it = d.num_free == d.blocks.size() ? downloading_.erase(it) : std::next(it);
  }
}

void PiecePicker::piece_passed(PieceIndex p) {
  set_have(p);
}

std::vector<PeerKey> PiecePicker::piece_failed(PieceIndex p) {
  std::vector<PeerKey> senders;
  auto it = downloading_.find(p.value());
  if (it == downloading_.end()) return senders;
  for (const Block& b : it->second.blocks) {
    if (b.state == BlockState::received &&
        std::find(senders.begin(), senders.end(), b.sender) == senders.end()) {
      senders.push_back(b.sender);
    }
  }
  downloading_.erase(it);
  return senders;
}

std::vector<PeerKey> PiecePicker::requesters(BlockRef ref) const {
  auto it = downloading_.find(ref.piece.value());
  if (it == downloading_.end() || ref.block >= it->second.blocks.size()) return {};
  const Block& b = it->second.blocks[ref.block];
  return std::vector<PeerKey>(b.requesters.begin(), b.requesters.begin() + b.num_requesters);
}

bool PiecePicker::piece_fully_requested(PieceIndex p) const {
  auto it = downloading_.find(p.value());
  return it != downloading_.end() && it->second.num_free == 0;
}

bool PiecePicker::claim_piece(PieceIndex p, PeerKey peer, Priority min, Clock::time_point now) {
  const std::uint32_t i = p.value();
  if (i >= num_pieces_ || !wanted(i) || priority_[i] < static_cast<std::uint8_t>(min) ||
      downloading_.count(i) != 0) {
    return false;
  }
  Downloading& d = start(i, peer);
  for (Block& b : d.blocks) {
    b.state = BlockState::requested;
    b.num_requesters = 1;
    b.requesters[0] = peer;
    b.requested_at = now;
  }
  d.num_free = 0;
  return true;
}

std::uint32_t PiecePicker::blocks_received(PieceIndex p) const {
  auto it = downloading_.find(p.value());
  return it == downloading_.end() ? 0 : it->second.num_received;
}

std::optional<PieceIndex> PiecePicker::claim_next_piece(PeerKey peer, Priority min,
                                                        Clock::time_point now) {
  for (const Key& k : order_) {
    if (3 - k.inv_class < static_cast<int>(min)) break;  // order_ is sorted by class first
    if (downloading_.count(k.piece) != 0) continue;
    const PieceIndex p(k.piece);
    if (claim_piece(p, peer, min, now)) return p;
  }
  return std::nullopt;
}

}  // namespace torfs
