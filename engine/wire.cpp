#include "engine/wire.hpp"

#include <algorithm>
#include <cstring>

#include "engine/bencode.hpp"

namespace torfs::wire {
namespace {

std::uint32_t load32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

void store32(char* p, std::uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

// Exact payload length (after the id byte) per fixed-size message type; -1 = variable.
int fixed_payload(MsgType t) {
  switch (t) {
    case MsgType::choke:
    case MsgType::unchoke:
    case MsgType::interested:
    case MsgType::not_interested:
    case MsgType::have_all:
    case MsgType::have_none:
      return 0;
    case MsgType::have:
    case MsgType::suggest:
    case MsgType::allowed_fast:
      return 4;
    case MsgType::request:
    case MsgType::cancel:
    case MsgType::reject:
      return 12;
    case MsgType::port:
      return 2;
    default:
      return -1;
  }
}

MsgType type_of(std::uint8_t id) {
  switch (id) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
    case 13:
    case 14:
    case 15:
    case 16:
    case 17:
    case 20:
      return static_cast<MsgType>(id);
    default:
      return MsgType::unknown;
  }
}

ParseResult fail(const char* why) {
  return ParseResult{ParseStatus::error, 0, why};
}

}  // namespace

void write_handshake(const Handshake& hs, char* out) {
  out[0] = 19;
  std::memcpy(out + 1, kProtocol.data(), kProtocol.size());
  std::memcpy(out + 20, hs.reserved.data(), 8);
  std::memcpy(out + 28, hs.info_hash.data(), 20);
  std::memcpy(out + 48, hs.peer_id.data(), 20);
}

bool handshake_prefix_valid(std::string_view prefix) {
  if (prefix.empty()) return true;
  if (static_cast<unsigned char>(prefix[0]) != 19) return false;
  const std::size_t n = std::min(prefix.size() - 1, kProtocol.size());
  return prefix.substr(1, n) == kProtocol.substr(0, n);
}

Result<Handshake> parse_handshake(std::string_view bytes) {
  if (bytes.size() < kHandshakeSize) {
    return make_error(std::errc::protocol_error,
                      "handshake: " + std::to_string(bytes.size()) + " bytes, need 68");
  }
  if (static_cast<unsigned char>(bytes[0]) != 19) {
    return make_error(std::errc::protocol_error,
                      "handshake: protocol string length " +
                          std::to_string(static_cast<unsigned char>(bytes[0])) + ", expected 19");
  }
  if (bytes.substr(1, 19) != kProtocol) {
    return make_error(std::errc::protocol_error,
                      "handshake: protocol string at byte 1 is not \"BitTorrent protocol\"");
  }
  Handshake hs;
  std::memcpy(hs.reserved.data(), bytes.data() + 20, 8);
  std::memcpy(hs.info_hash.data(), bytes.data() + 28, 20);
  std::memcpy(hs.peer_id.data(), bytes.data() + 48, 20);
  return hs;
}

const char* to_string(MsgType type) {
  switch (type) {
    case MsgType::choke:
      return "choke";
    case MsgType::unchoke:
      return "unchoke";
    case MsgType::interested:
      return "interested";
    case MsgType::not_interested:
      return "not interested";
    case MsgType::have:
      return "have";
    case MsgType::bitfield:
      return "bitfield";
    case MsgType::request:
      return "request";
    case MsgType::piece:
      return "piece";
    case MsgType::cancel:
      return "cancel";
    case MsgType::port:
      return "port";
    case MsgType::suggest:
      return "suggest";
    case MsgType::have_all:
      return "have all";
    case MsgType::have_none:
      return "have none";
    case MsgType::reject:
      return "reject";
    case MsgType::allowed_fast:
      return "allowed fast";
    case MsgType::extended:
      return "extended";
    case MsgType::keep_alive:
      return "keep-alive";
    case MsgType::unknown:
      return "unknown";
  }
  return "unknown";
}

ParseResult parse_message(std::string_view in, Message& out) {
  if (in.size() < 4) return ParseResult{ParseStatus::need_more, 4, nullptr};
  const std::uint32_t length = load32(in.data());
  if (length > kMaxMessageLength) return fail("message length prefix above 1 MiB + 13");
  const std::size_t total = std::size_t{length} + 4;
  if (in.size() < total) return ParseResult{ParseStatus::need_more, total, nullptr};

  out = Message{};
  if (length == 0) {
    out.type = MsgType::keep_alive;
    return ParseResult{ParseStatus::ok, total, nullptr};
  }
  const char* body = in.data() + 5;
  const std::uint32_t payload = length - 1;
  out.raw_id = static_cast<std::uint8_t>(in[4]);
  out.type = type_of(out.raw_id);
  const int fixed = fixed_payload(out.type);
  if (fixed >= 0 && payload != static_cast<std::uint32_t>(fixed)) {
    return fail("message of a fixed-size type has the wrong length");
  }
  switch (out.type) {
    case MsgType::have:
    case MsgType::suggest:
    case MsgType::allowed_fast:
      out.index = load32(body);
      break;
    case MsgType::request:
    case MsgType::cancel:
    case MsgType::reject:
      out.index = load32(body);
      out.begin = load32(body + 4);
      out.length = load32(body + 8);
      if (out.length == 0 || out.length > kBlockSize) {
        if (out.type == MsgType::request) return fail("request block length not in 1..16384");
        if (out.length == 0) return fail("cancel/reject of a zero-length block");
      }
      break;
    case MsgType::port:
      out.port = static_cast<std::uint16_t>((static_cast<unsigned char>(body[0]) << 8) |
                                            static_cast<unsigned char>(body[1]));
      break;
    case MsgType::bitfield:
      if (payload == 0) return fail("empty bitfield");
      out.payload = std::string_view(body, payload);
      break;
    case MsgType::piece:
      if (payload < 8) return fail("piece message shorter than its header");
      out.index = load32(body);
      out.begin = load32(body + 4);
      out.length = payload - 8;
      if (out.length == 0) return fail("piece message without data");
      out.payload = std::string_view(body + 8, out.length);
      break;
    case MsgType::extended:
      if (payload < 1) return fail("extended message without an id");
      out.ext_id = static_cast<std::uint8_t>(body[0]);
      out.payload = std::string_view(body + 1, payload - 1);
      break;
    case MsgType::unknown:
      out.payload = std::string_view(body, payload);
      break;
    default:
      break;
  }
  return ParseResult{ParseStatus::ok, total, nullptr};
}

const char* check_indices(const Message& msg, std::uint32_t num_pieces,
                          std::uint32_t piece_size_of_index) {
  switch (msg.type) {
    case MsgType::have:
    case MsgType::suggest:
    case MsgType::allowed_fast:
      return msg.index < num_pieces ? nullptr : "piece index out of range";
    case MsgType::request:
    case MsgType::piece:
    case MsgType::cancel:
    case MsgType::reject:
      if (msg.index >= num_pieces) return "piece index out of range";
      if (msg.begin >= piece_size_of_index || msg.length > piece_size_of_index - msg.begin) {
        return "block outside its piece";
      }
      return nullptr;
    default:
      return nullptr;
  }
}

std::size_t write_keep_alive(char* out) {
  store32(out, 0);
  return kKeepAliveSize;
}

std::size_t write_simple(char* out, MsgType type) {
  store32(out, 1);
  out[4] = static_cast<char>(type);
  return kSimpleSize;
}

std::size_t write_have(char* out, MsgType type, std::uint32_t index) {
  store32(out, 5);
  out[4] = static_cast<char>(type);
  store32(out + 5, index);
  return kHaveSize;
}

std::size_t write_request(char* out, MsgType type, std::uint32_t index, std::uint32_t begin,
                          std::uint32_t length) {
  store32(out, 13);
  out[4] = static_cast<char>(type);
  store32(out + 5, index);
  store32(out + 9, begin);
  store32(out + 13, length);
  return kRequestSize;
}

std::size_t write_piece_header(char* out, std::uint32_t index, std::uint32_t begin,
                               std::uint32_t block_length) {
  store32(out, 9 + block_length);
  out[4] = static_cast<char>(MsgType::piece);
  store32(out + 5, index);
  store32(out + 9, begin);
  return kPieceHeaderSize;
}

std::size_t write_bitfield_header(char* out, std::uint32_t bytes) {
  store32(out, 1 + bytes);
  out[4] = static_cast<char>(MsgType::bitfield);
  return 5;
}

std::size_t write_extended_header(char* out, std::uint8_t ext_id, std::uint32_t payload_length) {
  store32(out, 2 + payload_length);
  out[4] = static_cast<char>(MsgType::extended);
  out[5] = static_cast<char>(ext_id);
  return 6;
}

std::size_t write_port(char* out, std::uint16_t port) {
  store32(out, 3);
  out[4] = static_cast<char>(MsgType::port);
  out[5] = static_cast<char>(port >> 8);
  out[6] = static_cast<char>(port);
  return kPortSize;
}

std::optional<std::uint8_t> ExtensionHandshake::id_of(std::string_view name) const {
  for (const auto& [key, id] : m) {
    if (key == name && id != 0) return id;
  }
  return std::nullopt;
}

std::string encode_extension_handshake(const ExtensionHandshake& hs) {
  bencode::Value::Dict m;
  for (const auto& [name, id] : hs.m)
    m.emplace(name, bencode::Value(std::int64_t{id}));
  bencode::Value::Dict root;
  root.emplace("m", bencode::Value(std::move(m)));
  if (!hs.client.empty()) root.emplace("v", bencode::Value(hs.client));
  if (hs.listen_port) root.emplace("p", bencode::Value(std::int64_t{*hs.listen_port}));
  if (hs.reqq) root.emplace("reqq", bencode::Value(std::int64_t{*hs.reqq}));
  if (hs.metadata_size) {
    root.emplace("metadata_size", bencode::Value(static_cast<std::int64_t>(*hs.metadata_size)));
  }
  return bencode::encode(bencode::Value(std::move(root)));
}

Result<ExtensionHandshake> decode_extension_handshake(std::string_view payload) {
  bencode::Limits limits;
  limits.max_depth = 8;
  limits.max_tokens = 4096;
  limits.max_size = 64 * 1024;
  limits.strict = false;
  auto doc = bencode::decode(payload, limits);
  if (!doc) {
    return make_error(std::errc::protocol_error, "extension handshake: " + doc.error().message);
  }
  const bencode::Node root = doc->root();
  if (!root.is_dict()) {
    return make_error(std::errc::protocol_error, "extension handshake: not a dictionary");
  }
  ExtensionHandshake hs;
  if (auto m = root.find_dict("m")) {
    for (const auto& item : m->items()) {
      if (hs.m.size() >= kMaxExtensions) break;
      if (!item.value.is_int()) continue;
      const std::int64_t id = item.value.as_int();
      if (id < 0 || id > 255) continue;
      hs.m.emplace_back(std::string(item.key.substr(0, 64)), static_cast<std::uint8_t>(id));
    }
  }
  if (auto v = root.find_string("v")) hs.client = std::string(v->substr(0, 64));
  if (auto p = root.find_int("p"); p && *p > 0 && *p <= 65535) {
    hs.listen_port = static_cast<std::uint16_t>(*p);
  }
  if (auto q = root.find_int("reqq"); q && *q > 0) {
    hs.reqq = static_cast<std::uint32_t>(std::min<std::int64_t>(*q, 65535));
  }
  if (auto s = root.find_int("metadata_size")) {
    if (*s < 0 || static_cast<std::uint64_t>(*s) > kMaxMetadataSize) {
      return make_error(std::errc::protocol_error, "extension handshake: metadata_size " +
                                                       std::to_string(*s) + " outside 0.." +
                                                       std::to_string(kMaxMetadataSize));
    }
    hs.metadata_size = static_cast<std::uint64_t>(*s);
  }
  return hs;
}

}  // namespace torfs::wire
