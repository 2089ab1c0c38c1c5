// check_pieces: multi-threaded verification of the data on disk against the piece hashes (used
// by `torfs verify`, `torfs seed`, and the engine when files changed behind its back or the
// completion database was reset).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "cache/data_store.hpp"
#include "cache/file_layout.hpp"
#include "cache/index.hpp"
#include "cache/sha1.hpp"

namespace torfs {

enum class PieceState : std::uint8_t {
  missing,  // some byte lies in a file that does not exist or is too short (or: not checked)
  bad,      // all bytes present, SHA-1 differs
  good,     // SHA-1 matches
};

struct CheckOptions {
  unsigned threads = 0;          // 0 = one per core
  std::vector<PieceIndex> only;  // pieces to check; empty = all
  // Called after each checked piece from worker threads, one call at a time; `done` grows by
  // one per call and the last call has done == total.
  std::function<void(std::uint32_t done, std::uint32_t total)> progress;
  std::atomic<bool>* cancel = nullptr;  // set to stop early; unchecked pieces stay `missing`
};

// Returns one state per piece of the layout (layout.num_pieces() entries). Pieces not in
// options.only, not reached before cancel, or without a hash (hashes shorter than the piece
// count) are reported `missing` / `bad` respectively: only `good` means verified.
// Pad-file bytes count as present zeros. Threads take pieces in ascending order from a shared
// counter, so the disk is read mostly sequentially; each has one buffer and one hasher (no
// per-piece allocation). Thread-safe with respect to concurrent DataStore writers, but a piece
// being written while checked may come out `bad`.
std::vector<PieceState> check_pieces(const DataStore& store, const FileLayout& layout,
                                     std::span<const Sha1Hash> hashes,
                                     const CheckOptions& options = {});

}  // namespace torfs
