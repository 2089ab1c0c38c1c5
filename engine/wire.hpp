// BEP 3 peer wire protocol with the fast extension (BEP 6) and the extension protocol (BEP 10):
// handshake, an incremental in-place message parser, allocation-free serializers, and the
// extension handshake. Pure: bytes in, values out; no sockets.
//
// Parser contract: parse_message() looks at the front of a byte buffer and either returns one
// message (views into the buffer, valid until the caller overwrites it), asks for more bytes
// (telling how many the whole message needs once its length prefix is known), or reports a
// protocol violation. Sizes are checked per type; piece indices are checked by the caller,
// who knows num_pieces (see check_indices()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"

namespace torfs::wire {

using PeerId = std::array<std::uint8_t, 20>;

inline constexpr std::size_t kHandshakeSize = 68;
inline constexpr std::string_view kProtocol = "BitTorrent protocol";
inline constexpr std::uint32_t kBlockSize = 16 * 1024;
// Largest accepted length prefix: a 1 MiB payload plus the largest header (piece: 9 bytes,
// rounded up to the 13 of request-like messages).
inline constexpr std::uint32_t kMaxMessageLength = (1u << 20) + 13;

struct Handshake {
  std::array<std::uint8_t, 8> reserved{};
  Sha1Hash info_hash{};
  PeerId peer_id{};

  bool supports_fast() const { return reserved[7] & 0x04; }        // BEP 6
  bool supports_extensions() const { return reserved[5] & 0x10; }  // BEP 10
  bool supports_dht() const { return reserved[7] & 0x01; }         // BEP 5
  void set_fast() { reserved[7] |= 0x04; }
  void set_extensions() { reserved[5] |= 0x10; }
  void set_dht() { reserved[7] |= 0x01; }
};

// Writes the 68-byte handshake.
void write_handshake(const Handshake& hs, char* out);
// Checks the first 20 bytes (pstrlen 19 + "BitTorrent protocol") of what a peer sent, so a
// connection speaking something else (e.g. an MSE-encrypted handshake) is closed at once.
// `prefix` may be shorter than 20 bytes: only the bytes present are checked.
bool handshake_prefix_valid(std::string_view prefix);
// Parses a full 68-byte handshake; errors name the offending field.
Result<Handshake> parse_handshake(std::string_view bytes);

enum class MsgType : std::uint8_t {
  choke = 0,
  unchoke = 1,
  interested = 2,
  not_interested = 3,
  have = 4,
  bitfield = 5,
  request = 6,
  piece = 7,
  cancel = 8,
  port = 9,
  suggest = 13,
  have_all = 14,
  have_none = 15,
  reject = 16,
  allowed_fast = 17,
  extended = 20,
  keep_alive = 254,  // zero-length message (no id on the wire)
  unknown = 255,     // an id we do not speak: BEP 3 says ignore it
};

const char* to_string(MsgType type);

struct Message {
  MsgType type = MsgType::keep_alive;
  std::uint8_t raw_id = 0;   // the id byte as received (for unknown messages)
  std::uint32_t index = 0;   // have, request, piece, cancel, suggest, reject, allowed_fast
  std::uint32_t begin = 0;   // request, piece, cancel, reject
  std::uint32_t length = 0;  // request, cancel, reject: block length; piece: payload size
  std::uint16_t port = 0;    // port
  std::uint8_t ext_id = 0;   // extended: the extended message id (0 = handshake)
  // bitfield: the bits; piece: the block; extended: the payload after ext_id; unknown: the
  // payload after the id. Views into the parsed buffer.
  std::string_view payload;
};

enum class ParseStatus { ok, need_more, error };

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  // ok: bytes consumed by the message; need_more: total bytes the message needs (4 while the
  // length prefix is incomplete); error: 0.
  std::size_t size = 0;
  const char* error = nullptr;  // static text when status == error
};

// Parses one message at the front of `in` (see the contract at the top).
ParseResult parse_message(std::string_view in, Message& out);

// Range check for messages carrying piece coordinates: index < num_pieces (have, request,
// piece, cancel, suggest, reject, allowed_fast) and, for request/piece/cancel/reject, that the
// block lies inside a piece of `piece_size(index)` bytes. Returns an error text or nullptr.
const char* check_indices(const Message& msg, std::uint32_t num_pieces,
                          std::uint32_t piece_size_of_index);

// Serializers: write into `out` (which must have room) and return the bytes written. None
// allocates. Fixed sizes below.
inline constexpr std::size_t kKeepAliveSize = 4;
inline constexpr std::size_t kSimpleSize = 5;    // choke...not_interested, have_all, have_none
inline constexpr std::size_t kHaveSize = 9;      // have, suggest, allowed_fast
inline constexpr std::size_t kRequestSize = 17;  // request, cancel, reject
inline constexpr std::size_t kPieceHeaderSize = 13;
inline constexpr std::size_t kPortSize = 7;

std::size_t write_keep_alive(char* out);
std::size_t write_simple(char* out, MsgType type);
std::size_t write_have(char* out, MsgType type, std::uint32_t index);
std::size_t write_request(char* out, MsgType type, std::uint32_t index, std::uint32_t begin,
                          std::uint32_t length);
// The 13-byte header of a piece message; `block_length` bytes of data must follow.
std::size_t write_piece_header(char* out, std::uint32_t index, std::uint32_t begin,
                               std::uint32_t block_length);
// The 5-byte header of a bitfield message; `bytes` bytes of bits must follow.
std::size_t write_bitfield_header(char* out, std::uint32_t bytes);
// The 6-byte header of an extended message; `payload_length` bytes must follow.
std::size_t write_extended_header(char* out, std::uint8_t ext_id, std::uint32_t payload_length);
std::size_t write_port(char* out, std::uint16_t port);

// BEP 10 extension handshake (extended message id 0).
struct ExtensionHandshake {
  // Extension name -> the id the sender wants to receive it under (0 = disabled).
  std::vector<std::pair<std::string, std::uint8_t>> m;
  std::string client;                          // "v", truncated to 64 bytes
  std::optional<std::uint16_t> listen_port;    // "p"
  std::optional<std::uint32_t> reqq;           // outstanding requests the sender accepts
  std::optional<std::uint64_t> metadata_size;  // BEP 9

  std::optional<std::uint8_t> id_of(std::string_view name) const;
};

inline constexpr std::size_t kMaxExtensions = 64;
inline constexpr std::uint64_t kMaxMetadataSize = 10 * 1024 * 1024;

std::string encode_extension_handshake(const ExtensionHandshake& hs);
// Lenient about unknown keys and wrong-typed optional fields (ignored), strict about bounds:
// ids above 255 and entries beyond kMaxExtensions dropped, reqq 0 ignored and capped at 65535,
// metadata_size above kMaxMetadataSize rejected.
Result<ExtensionHandshake> decode_extension_handshake(std::string_view payload);

}  // namespace torfs::wire
