// Web seeds (BEP 19, GetRight-style url-list): the pure parts. Which HTTP range requests fetch a
// span of the torrent's byte stream, and whether a response to one of them is acceptable.
// No I/O; the response checks take header bytes from a foreign server and are fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_layout.hpp"
#include "cache/result.hpp"

namespace torfs::web_seed {

// Largest span one fetch may cover (a run of consecutive pieces), so a web seed's buffers
// stay bounded whatever the piece size. A fetch's buffer is allocated whole (one per fetch in
// flight, at most four per torrent), so this is the memory price: 4 MiB measured 1152 MB/s and
// 75 MiB peak RSS for a 1 GiB download against 1038 MB/s and 119 MiB with 16 MiB fetches
// (tools/bench-webseed, docs/benchmarks.md). Two 4 MiB fetches in flight per web seed keep a
// connection busy as long as 8 MiB outlasts the round trip (64 ms at 1 Gbit/s).
inline constexpr std::uint64_t kMaxFetchBytes = 4u << 20;

// One HTTP request of a fetch: bytes [file_offset, file_offset + length) of one file, which land
// at `buffer_offset` in the fetch's buffer. A pad file (BEP 47) is not on the server: `pad`
// requests are zeros, never sent.
struct FileRequest {
  std::string url;  // empty for pad
  FileIndex file;
  std::uint64_t file_size = 0;
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;
  std::uint64_t buffer_offset = 0;
  bool pad = false;
};

// Percent-encodes one path element (RFC 3986: everything outside unreserved characters).
std::string encode_path_element(std::string_view element);

// Per file, in layout order, its path elements as the torrent names them, the torrent's name
// first (Metainfo::original_paths).
using OriginalPaths = std::vector<std::vector<std::string>>;

// The URL of a file (BEP 19). Single-file torrent: `base` itself, or base + name when base ends
// with '/'. Multi-file: base + "/" (unless it ends with one) + the name and the file's path
// elements, each percent-encoded. The elements are the torrent's own (`original`) when given
// for this file: the sanitizer may have renamed the file on disk, but the server has it under
// the torrent's name. "", "." and ".." elements are left out (they would step out of the
// base's directory). Without `original` (or with an empty entry) FileEntry::path is used.
std::string file_url(std::string_view base, const FileLayout& layout, FileIndex file,
                     bool multi_file, const OriginalPaths* original = nullptr);

// The requests that fetch bytes [offset, offset + length) of the torrent: one per file slice, in
// stream order, with URLs as file_url. Precondition: the span is inside the torrent and at
// most kMaxFetchBytes.
std::vector<FileRequest> plan_fetch(std::string_view base, const FileLayout& layout,
                                    bool multi_file, std::uint64_t offset, std::uint64_t length,
                                    const OriginalPaths* original = nullptr);

// The value of a Range header for a request: "bytes=first-last".
std::string range_header(const FileRequest& request);

// A parsed Content-Range header: "bytes first-last/total" (total may be "*").
struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::optional<std::uint64_t> total;
};
Result<ContentRange> parse_content_range(std::string_view value);

// What a server's response header says, as far as the checks need it.
struct ResponseHead {
  unsigned status = 0;
  std::optional<std::string_view> content_range;  // absent: no header
  std::optional<std::uint64_t> content_length;    // absent: chunked or until close
};

// Checks a (non-redirect) response to `request`: 206 with a Content-Range equal to what was
// asked (and a total, when given, equal to the file's size) or 200 only when the whole file was
// asked; a Content-Length, when present, must equal the requested length. Errors say what the
// server did wrong (status, header values); a 404 or 5xx status keeps its number in the text.
Result<void> check_response(const ResponseHead& head, const FileRequest& request);

}  // namespace torfs::web_seed
