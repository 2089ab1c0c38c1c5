// Torrent creation (BEP 3, 12, 19, 27): walks a file or directory, hashes its bytes on all
// cores and returns the bencoded .torrent.
//
// Compatibility contract: for the same input, piece length and trackers the info dictionary is
// byte-identical to mktorrent's (so the info-hash is the same): files ordered by strcmp() of
// their '/'-separated path relative to the source, keys `files`/`length`, `name`,
// `piece length`, `pieces`, and `private` only when set; no `name.utf-8`, `md5sum` or `source`.
//
// Does file I/O (pread) but no networking; safe to call from any thread. Not cancellable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cache/result.hpp"

namespace torfs {

struct CreateOptions {
  // A regular file (single-file torrent) or a directory (multi-file torrent, recursive). The
  // torrent's name is the last component of the path (of its absolute form for "." and "..").
  std::filesystem::path source;
  // BEP 12 tiers. The first URL becomes `announce`; `announce-list` is written when there is
  // more than one URL in all (as mktorrent does).
  std::vector<std::vector<std::string>> trackers;
  // BEP 19 `url-list`: one URL is written as a string, several as a list (as mktorrent does).
  std::vector<std::string> web_seeds;
  // Power of two in [16 KiB, 256 MiB]; 0 = automatic (see automatic_piece_length()).
  std::uint32_t piece_length = 0;
  bool is_private = false;           // BEP 27: `private` = 1 inside the info dictionary
  std::string comment;               // omitted when empty
  std::string created_by = "torfs";  // omitted when empty; the CLI passes "torfs/<version>"
  std::optional<std::int64_t> creation_date;  // seconds since the epoch; omitted when unset
  unsigned threads = 0;                       // hashing threads; 0 = one per core
  // Called from the hashing threads, never concurrently, about every 4 MiB and once at the end
  // with bytes_done == total.
  std::function<void(std::uint64_t bytes_done, std::uint64_t total)> progress;
  // Told about every directory entry that is left out (sockets, FIFOs, devices), one message
  // each. When empty, such an entry is an error instead: nothing is skipped silently.
  std::function<void(const std::string& message)> warning;
};

// The bencoded .torrent. Fails, naming the path, when the source is missing or unreadable, a
// symlink points outside the source (or is dangling or loops), a file changes size while being
// hashed, the total size is 0, or piece_length is invalid.
Result<std::string> create_torrent(const CreateOptions& options);

// The automatic piece length: the smallest power of two, at least 16 KiB and at most 16 MiB,
// that cuts total_size into no more than 1500 pieces (so between ~750 and 1500 pieces for
// torrents from 24 MiB to 24 GiB; more pieces above that, fewer below).
std::uint32_t automatic_piece_length(std::uint64_t total_size);

}  // namespace torfs
