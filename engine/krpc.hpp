// KRPC (BEP 5), pure: the bencoded UDP messages of the mainline DHT. Bytes in, a Message or an
// Error out; no I/O, so every function here is unit-tested and fuzzed directly. engine/net/
// dht_node.cpp does the networking around them.
//
// Everything a remote node says is bounded: a packet over kMaxMessageSize is refused before
// decoding; transaction ids, tokens and version strings have maximum lengths; node lists and
// peer lists are capped (kMaxNodes, kMaxValues); entries with port 0 and compact entries of the
// wrong size are dropped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace torfs::dht {

// A 160-bit DHT node id; same space as info-hashes (distance is XOR).
using NodeId = std::array<std::uint8_t, 20>;

// A contact: "compact node info" is the 20-byte id followed by a compact endpoint.
struct NodeInfo {
  NodeId id{};
  Endpoint endpoint;
  friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

inline constexpr std::size_t kMaxMessageSize = 8192;      // larger packets are refused unparsed
inline constexpr std::size_t kTypicalMessageSize = 1500;  // what we keep our own replies under
inline constexpr std::size_t kMaxTransactionIdLength = 32;
inline constexpr std::size_t kMaxTokenLength = 64;
inline constexpr std::size_t kMaxVersionLength = 16;
inline constexpr std::size_t kMaxErrorTextLength = 256;  // longer texts are truncated
inline constexpr std::size_t kMaxNodes = 64;             // per message, `nodes` and `nodes6` each
inline constexpr std::size_t kMaxValues = 200;           // peers per get_peers response
inline constexpr std::size_t kCompactNodeSize = 26;
inline constexpr std::size_t kCompactNode6Size = 38;

// Our "v" key: client id "TF" and a two-byte version.
inline constexpr std::string_view kClientVersion{"TF\x00\x01", 4};

// BEP 32 "want": the address families whose nodes a find_node/get_peers querier wants back
// ("n4" -> `nodes`, "n6" -> `nodes6`). Neither: the family of the socket the query came on.
struct Want {
  bool n4 = false;
  bool n6 = false;
  bool any() const { return n4 || n6; }
  friend bool operator==(const Want&, const Want&) = default;
};

enum class MessageKind : std::uint8_t { query, response, error };
enum class Method : std::uint8_t { ping, find_node, get_peers, announce_peer, unknown };

// KRPC error codes (BEP 5).
enum class ErrorCode : std::int32_t {
  generic = 201,
  server = 202,
  protocol = 203,  // malformed packet, invalid arguments or bad token
  method_unknown = 204,
};

struct Query {
  Method method = Method::ping;
  std::string method_name;  // as received (for `unknown`), at most 32 bytes kept
  NodeId id{};              // the querying node
  NodeId target{};          // find_node
  Sha1Hash info_hash{};     // get_peers, announce_peer
  std::uint16_t port = 0;   // announce_peer
  bool implied_port = false;
  std::string token;       // announce_peer
  bool read_only = false;  // BEP 43 "ro": do not add the sender to routing tables
  Want want;               // find_node, get_peers (BEP 32); unknown list entries ignored
};

struct Response {
  NodeId id{};                       // the responding node
  std::vector<NodeInfo> nodes;       // from `nodes` (IPv4) and `nodes6` (IPv6), port 0 dropped
  std::vector<Endpoint> values;      // peers (get_peers), 6- or 18-byte entries, port 0 dropped
  std::optional<std::string> token;  // get_peers
};

struct ErrorReply {
  ErrorCode code = ErrorCode::generic;  // other codes are kept as received
  std::string text;
};

struct Message {
  MessageKind kind = MessageKind::query;
  std::string transaction_id;  // 1..kMaxTransactionIdLength bytes
  std::string version;         // "v", possibly empty
  Query query;                 // kind == query
  Response response;           // kind == response
  ErrorReply error;            // kind == error
};

// Parses one KRPC packet. Errors (code protocol_error, with what is wrong) for: oversized input,
// invalid bencode, missing/invalid "t" or "y", a query without a valid "id" or with arguments
// its method needs missing or of the wrong size, a response without a valid "id", an error
// without a [code, text] list. Unknown methods parse as Method::unknown (answered with 204).
// Unknown keys are ignored (forward compatibility).
Result<Message> parse_message(std::string_view packet);

// For a packet parse_message rejected: its transaction id when the packet is a dict with "y" =
// "q" and a valid "t", so the caller can answer with a 203 error; nullopt otherwise (not
// worth answering).
std::optional<std::string> query_transaction_id(std::string_view packet);

// Builders. Every message carries kClientVersion as "v".
std::string build_ping(std::string_view tid, const NodeId& self);
// A `want` with neither family set is not sent.
std::string build_find_node(std::string_view tid, const NodeId& self, const NodeId& target,
                            Want want = {});
std::string build_get_peers(std::string_view tid, const NodeId& self, const Sha1Hash& info_hash,
                            Want want = {});
std::string build_announce_peer(std::string_view tid, const NodeId& self, const Sha1Hash& info_hash,
                                std::uint16_t port, std::string_view token, bool implied_port);
// A response {id, nodes/nodes6 (split by address family), values, token}; empty parts omitted.
std::string build_response(std::string_view tid, const Response& response);
std::string build_error(std::string_view tid, ErrorCode code, std::string_view text);

// Compact forms. An IPv4 endpoint is 6 bytes (address, port big-endian), IPv6 18 bytes.
std::string compact_endpoint(const Endpoint& endpoint);
// Exactly 6 or 18 bytes; nullopt for any other size.
std::optional<Endpoint> parse_compact_endpoint(std::string_view bytes);
std::string compact_node(const NodeInfo& node);  // 26 or 38 bytes
// Concatenated entries of 26 (v6 = false) or 38 bytes. Trailing partial entries and entries
// with port 0 are dropped; at most `max` nodes are returned.
std::vector<NodeInfo> parse_compact_nodes(std::string_view bytes, bool v6,
                                          std::size_t max = kMaxNodes);

}  // namespace torfs::dht
