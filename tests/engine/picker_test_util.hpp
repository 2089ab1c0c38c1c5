// Helpers shared by the PiecePicker test files: picking blocks with the usual options and the
// set of pieces a pick touched.
#pragma once

#include <set>
#include <vector>

#include "engine/piece_picker.hpp"

namespace torfs::testing {

inline constexpr std::uint32_t kBlock = PiecePicker::kBlockSize;

inline PiecePicker::PickOptions pick_options(
    std::uint32_t n, PiecePicker::Clock::time_point now = PiecePicker::Clock::time_point{},
    Priority min_new = Priority::normal) {
  PiecePicker::PickOptions o;
  o.max_blocks = n;
  o.now = now;
  o.min_new_priority = min_new;
  return o;
}

// Up to `n` blocks for `peer` (who has `has`; null = everything).
inline std::vector<BlockRef> pick(PiecePicker& pp, PeerKey peer, std::uint32_t n,
                                  const Bitfield* has = nullptr,
                                  PiecePicker::Clock::time_point now = {},
                                  Priority min_new = Priority::normal) {
  std::vector<BlockRef> out;
  pp.pick(has, peer, pick_options(n, now, min_new), out);
  return out;
}

inline std::set<std::uint32_t> pieces_of(const std::vector<BlockRef>& blocks) {
  std::set<std::uint32_t> s;
  for (const auto& b : blocks)
    s.insert(b.piece.value());
  return s;
}

}  // namespace torfs::testing
