#include "engine/ut_metadata.hpp"

#include <cstring>

#include "engine/bencode.hpp"

namespace torfs::ut_metadata {
namespace {

Error bad(const std::string& what) {
  return make_error(std::errc::invalid_argument, "ut_metadata: " + what);
}

std::string header(MsgType type, std::uint32_t piece, std::optional<std::uint64_t> total) {
  bencode::Value::Dict d;
  d.emplace("msg_type", static_cast<std::int64_t>(type));
  d.emplace("piece", static_cast<std::int64_t>(piece));
  if (total) d.emplace("total_size", static_cast<std::int64_t>(*total));
  return bencode::encode(bencode::Value(std::move(d)));
}

}  // namespace

std::uint32_t num_pieces(std::uint64_t size) {
  return static_cast<std::uint32_t>((size + kPieceSize - 1) / kPieceSize);
}

std::uint32_t piece_size(std::uint64_t size, std::uint32_t piece) {
  if (piece >= num_pieces(size)) return 0;
  const std::uint64_t begin = std::uint64_t{piece} * kPieceSize;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(kPieceSize, size - begin));
}

Result<Message> parse(std::string_view payload) {
  bencode::Limits limits;
  limits.max_depth = 4;
  limits.max_tokens = 64;
  limits.max_size = kPieceSize + 1024;
  limits.strict = false;
  if (payload.size() > limits.max_size) {
    return make_error(std::errc::value_too_large,
                      "ut_metadata: message of " + std::to_string(payload.size()) + " bytes");
  }
  std::size_t consumed = 0;
  auto doc = bencode::decode_prefix(payload, consumed, limits);
  if (!doc) return bad(doc.error().message);
  const bencode::Node root = doc->root();
  if (!root.is_dict()) return bad("message is not a dictionary");
  const auto type = root.find_int("msg_type");
  if (!type) return bad("msg_type missing");
  const auto piece = root.find_int("piece");
  if (!piece) return bad("piece missing");
  if (*piece < 0 || *piece >= static_cast<std::int64_t>(num_pieces(kMaxMetadataSize))) {
    return bad("piece " + std::to_string(*piece) + " out of range");
  }
  Message m;
  m.piece = static_cast<std::uint32_t>(*piece);
  const std::string_view rest = payload.substr(consumed);
  switch (*type) {
    case 0:
    case 2:
      m.type = *type == 0 ? MsgType::request : MsgType::reject;
      if (!rest.empty()) return bad("bytes after a request/reject");
      return m;
    case 1: {
      m.type = MsgType::data;
      const auto total = root.find_int("total_size");
      if (!total) return bad("total_size missing in data");
      if (*total <= 0 || static_cast<std::uint64_t>(*total) > kMaxMetadataSize) {
        return bad("total_size " + std::to_string(*total) + " out of range");
      }
      m.total_size = static_cast<std::uint64_t>(*total);
      const std::uint32_t expected = piece_size(m.total_size, m.piece);
      if (expected == 0) return bad("piece " + std::to_string(m.piece) + " beyond total_size");
      if (rest.size() != expected) {
        return bad("piece " + std::to_string(m.piece) + " has " + std::to_string(rest.size()) +
                   " bytes, expected " + std::to_string(expected));
      }
      m.data = rest;
      return m;
    }
    default:
      return bad("unknown msg_type " + std::to_string(*type));
  }
}

std::string encode_request(std::uint32_t piece) {
  return header(MsgType::request, piece, std::nullopt);
}

std::string encode_reject(std::uint32_t piece) {
  return header(MsgType::reject, piece, std::nullopt);
}

std::string encode_data(std::uint32_t piece, std::uint64_t total_size, std::string_view data) {
  std::string out = header(MsgType::data, piece, total_size);
  out.append(data);
  return out;
}

std::string answer_request(std::string_view info_bytes, std::uint32_t piece) {
  const std::uint32_t n = piece_size(info_bytes.size(), piece);
  if (n == 0 || info_bytes.size() > kMaxMetadataSize) return encode_reject(piece);
  return encode_data(piece, info_bytes.size(),
                     info_bytes.substr(std::size_t{piece} * kPieceSize, n));
}

bool Assembler::reset(std::uint64_t size) {
  if (size == 0 || size > kMaxMetadataSize) return false;
  size_ = size;
  buffer_.assign(static_cast<std::size_t>(size), '\0');
  missing_ = num_pieces(size);
  got_.assign(missing_, false);
  return true;
}

const char* Assembler::add(std::uint32_t piece, std::uint64_t total_size, std::string_view data) {
  if (!started()) return "metadata data before its size is known";
  if (total_size != size_) return "metadata total_size differs from the announced size";
  const std::uint32_t n = piece_size(size_, piece);
  if (n == 0) return "metadata piece index out of range";
  if (data.size() != n) return "metadata piece of the wrong length";
  if (got_[piece]) return nullptr;
  std::memcpy(buffer_.data() + std::size_t{piece} * kPieceSize, data.data(), n);
  got_[piece] = true;
  --missing_;
  return nullptr;
}

std::optional<std::uint32_t> Assembler::next_missing(std::uint32_t from) const {
  const std::uint32_t n = static_cast<std::uint32_t>(got_.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t p = (from + i) % n;
    if (!got_[p]) return p;
  }
  return std::nullopt;
}

bool Assembler::verify(const Sha1Hash& expected) {
  if (!complete()) return false;
  if (sha1(buffer_) == expected) return true;
  reset(size_);
  return false;
}

}  // namespace torfs::ut_metadata
