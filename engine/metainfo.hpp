// Metainfo: a parsed, validated, sanitized .torrent (BEP 3, 12, 19, 27, 47).
// Parsing is pure (bytes in, Metainfo or Error out) and bounded by MetainfoLimits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_layout.hpp"
#include "cache/result.hpp"
#include "cache/sha1.hpp"

namespace torfs {

struct MetainfoLimits {
  std::size_t max_torrent_size = 10 * 1024 * 1024;  // bytes of the whole .torrent
  std::size_t max_depth = 100;                      // bencode nesting
  std::size_t max_tokens = 4'000'000;               // bencode tokens (ints, strings, lists, dicts)
  std::size_t max_files = 1'000'000;
  std::uint32_t min_piece_length = 16 * 1024;
  std::uint32_t max_piece_length = 256 * 1024 * 1024;
};

struct Metainfo {
  std::string name;  // sanitized; the torrent's root directory (multi-file) or file name
  Sha1Hash info_hash{};
  std::string info_bytes;  // the exact bencoded info dictionary as it appeared (for BEP 9)
  std::vector<Sha1Hash> piece_hashes;
  FileLayout layout;
  bool multi_file = false;
  std::vector<std::vector<std::string>> tracker_tiers;  // BEP 12; a lone `announce` is one tier
  std::vector<std::string> web_seeds;                   // BEP 19 url-list
  bool is_private = false;                              // BEP 27
  std::string comment;
  std::string created_by;
  std::optional<std::int64_t> creation_date;
  // What sanitizing changed (renamed paths, dropped duplicates...), for `torfs info` to show.
  std::vector<std::string> warnings;
  // Per file (layout order), the path elements exactly as the torrent gives them, the torrent's
  // name first: a web seed's URL is built from these (BEP 19), not from the sanitized, maybe
  // renamed FileEntry::path. Empty when unknown (a Metainfo not made by parsing).
  std::vector<std::vector<std::string>> original_paths;
};

// Parses a whole .torrent file's bytes. Accepts what real clients write: unsorted keys (the
// first of duplicates wins) and bytes after the top-level dict (warned about); the info-hash is
// over the info dict's bytes exactly as they appear. Piece length: within the limits and a
// power of two or a multiple of 16 KiB. Rejects (naming the key and value) negative sizes, a
// total above 2^63-1, a `pieces` length that is not 20 * ceil(total / piece length), and
// torrents with no files or a total size of 0. Paths are sanitized (engine/path_sanitizer.hpp),
// an unusable name becomes the hex info-hash; every change is listed in `warnings`.
// Errors: invalid_argument, or value_too_large for a limit.
Result<Metainfo> parse_metainfo(std::string_view bytes, const MetainfoLimits& limits = {});
// Parses a bare info dictionary (from ut_metadata); checks it hashes to `expected`.
Result<Metainfo> parse_info_dict(std::string_view info_bytes, const Sha1Hash& expected,
                                 const MetainfoLimits& limits = {});
// Reads a file (refusing ones over limits.max_torrent_size) and parses it.
Result<Metainfo> load_metainfo_file(const std::filesystem::path& path,
                                    const MetainfoLimits& limits = {});

}  // namespace torfs
