// BEP 9 ut_metadata messages and a bounded assembler for fetching an info dictionary from
// peers. Pure: bytes in, values out; no sockets.
//
// A message is a bencoded dict {msg_type, piece[, total_size]} that, for `data`, is followed by
// the raw piece bytes. Pieces are 16 KiB except the last. Every size is checked against
// the metadata size announced in the extension handshake, which is itself capped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/wire.hpp"

namespace torfs::ut_metadata {

inline constexpr std::uint32_t kPieceSize = 16 * 1024;
// Same cap as the extension handshake's metadata_size (and the .torrent size limit).
inline constexpr std::uint64_t kMaxMetadataSize = wire::kMaxMetadataSize;
inline constexpr std::string_view kExtensionName = "ut_metadata";
// The extended message id we ask peers to send ut_metadata under (our `m` dictionary).
inline constexpr std::uint8_t kLocalId = 2;

enum class MsgType : std::uint8_t { request = 0, data = 1, reject = 2 };

struct Message {
  MsgType type = MsgType::request;
  std::uint32_t piece = 0;
  std::uint64_t total_size = 0;  // data only
  std::string_view data;         // data only: the raw bytes after the dict (view into input)
};

// Pieces of a metadata blob of `size` bytes (0 for size 0).
std::uint32_t num_pieces(std::uint64_t size);
// Size of piece `piece` of a blob of `size` bytes (0 when out of range).
std::uint32_t piece_size(std::uint64_t size, std::uint32_t piece);

// Parses the payload of an extended message (after the extended id byte). Unknown msg_type
// values are an error. For data: total_size must be present, within kMaxMetadataSize, and the
// piece index and byte count must fit it. Errors name the field.
Result<Message> parse(std::string_view payload);

std::string encode_request(std::uint32_t piece);
std::string encode_reject(std::uint32_t piece);
// `data` must be piece `piece` of a blob of `total_size` bytes.
std::string encode_data(std::uint32_t piece, std::uint64_t total_size, std::string_view data);

// Serving side: the answer to a request for `piece` of `info_bytes` (data, or reject when out
// of range).
std::string answer_request(std::string_view info_bytes, std::uint32_t piece);

// Collects the pieces of one metadata blob. Not thread-safe.
class Assembler {
 public:
  // Starts over with a blob of `size` bytes; false (nothing changes) when size is 0 or over
  // kMaxMetadataSize.
  bool reset(std::uint64_t size);
  std::uint64_t size() const { return size_; }
  bool started() const { return size_ != 0; }
  // Stores a received piece. Returns an error text for a piece that does not fit (wrong
  // total_size, index or length), nullptr otherwise (duplicates are ignored).
  const char* add(std::uint32_t piece, std::uint64_t total_size, std::string_view data);
  bool have(std::uint32_t piece) const { return piece < got_.size() && got_[piece]; }
  bool complete() const { return started() && missing_ == 0; }
  std::uint32_t missing() const { return missing_; }
  // The first missing piece at or after `from` (wrapping), nullopt when complete.
  std::optional<std::uint32_t> next_missing(std::uint32_t from = 0) const;
  // When complete: true when the blob's SHA-1 is `expected`. A mismatch resets the assembler
  // (same size) so the pieces are fetched again.
  bool verify(const Sha1Hash& expected);
  const std::string& bytes() const { return buffer_; }

 private:
  std::uint64_t size_ = 0;
  std::string buffer_;
  std::vector<bool> got_;
  std::uint32_t missing_ = 0;
};

}  // namespace torfs::ut_metadata
