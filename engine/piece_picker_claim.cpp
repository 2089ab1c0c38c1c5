// PiecePicker: runs of consecutive pieces for web seeds (BEP 19). See piece_picker.hpp.
#include <algorithm>

#include "engine/piece_picker.hpp"

namespace torfs {

bool PiecePicker::claimable(std::uint32_t p, Priority min) const {
  return p < num_pieces_ && wanted(p) && priority_[p] >= static_cast<std::uint8_t>(min) &&
         downloading_.count(p) == 0;
}

std::uint32_t PiecePicker::claim_run(PieceIndex first, PeerKey peer, Priority min,
                                     std::uint32_t max_pieces, Clock::time_point now) {
  std::uint32_t n = 0;
  const std::uint32_t limit = std::max<std::uint32_t>(max_pieces, 1);
  while (n < limit && first.value() + n < num_pieces_ &&
         claim_piece(PieceIndex(first.value() + n), peer, min, now)) {
    ++n;
  }
  return n;
}

// Walks back from `chosen` over claimable pieces equal to it in the picking order's terms
// (priority class and availability; the random rank only breaks ties between equals).
std::uint32_t PiecePicker::run_start(std::uint32_t chosen, Priority min,
                                     std::uint32_t max_pieces) const {
  if (priority_[chosen] == static_cast<std::uint8_t>(Priority::now)) return chosen;
  const std::uint32_t span = std::max<std::uint32_t>(max_pieces, 1);
  const std::uint64_t walk_limit = std::uint64_t{kMaxRunWalk} * span;
  std::uint32_t start = chosen;
  while (start > 0 && claimable(start - 1, min) && priority_[start - 1] == priority_[chosen] &&
         availability_[start - 1] == availability_[chosen]) {
    --start;
    // A very long stretch: cut it at a multiple of the run length instead of walking on, so
    // the runs cut from it still tile it without short leftovers (bounded work per claim).
    if (chosen - start >= walk_limit) return chosen - chosen % span;
  }
  return start;
}

std::optional<PiecePicker::Run> PiecePicker::claim_next_run(PeerKey peer, Priority min,
                                                            std::uint32_t max_pieces,
                                                            Clock::time_point now) {
  for (const Key& k : order_) {
    if (3 - k.inv_class < static_cast<int>(min)) break;  // order_ is sorted by class first
    if (!claimable(k.piece, min)) continue;
    const std::uint32_t start = run_start(k.piece, min, max_pieces);
    const std::uint32_t n = claim_run(PieceIndex(start), peer, min, max_pieces, now);
    if (n > 0) return Run{PieceIndex(start), n};
  }
  return std::nullopt;
}

}  // namespace torfs
