#include "engine/bencode.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace torfs::bencode {
namespace {

constexpr std::uint32_t kNoToken = std::numeric_limits<std::uint32_t>::max();

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A byte string made safe for an error message: printable ASCII kept, the rest as \xNN,
// long strings cut (a hostile key must not turn an error message into megabytes).
std::string printable(std::string_view bytes) {
  static constexpr std::size_t kMax = 40;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (bytes.size() > kMax) out += "...";
  return out;
}

Error fail(std::errc code, const std::string& what, std::size_t offset) {
  return make_error(code, "bencode: " + what + " at byte " + std::to_string(offset));
}

}  // namespace

// The decoder: one loop over the input with an explicit stack of open containers, so the
// nesting depth costs heap (bounded by Limits::max_depth), never C++ stack.
class Parser {
 public:
  Parser(std::string_view input, const Limits& limits) : in_(input), limits_(limits) {
    max_tokens_ = std::min<std::size_t>(limits.max_tokens, kNoToken - 1);
  }

  Result<Document> run(std::size_t& consumed);

 private:
  struct Frame {
    std::uint32_t token;     // the list/dict token
    std::uint32_t last_key;  // dicts: the previous key's token (kNoToken before the first)
    bool expect_key;         // dicts: the next value is a key
  };

  std::optional<Error> parse_integer();
  std::optional<Error> parse_string();
  std::optional<Error> open_container(Type type);
  std::optional<Error> close_container();
  // Accounts a finished value (token index `t`) in its parent container.
  std::optional<Error> finish_value(std::uint32_t t);
  std::string_view payload(std::uint32_t t) const {
    const auto& tok = doc_.tokens_[t];
    return in_.substr(static_cast<std::size_t>(tok.value),
                      tok.end - static_cast<std::size_t>(tok.value));
  }

  std::string_view in_;
  const Limits& limits_;
  std::size_t max_tokens_;
  std::size_t pos_ = 0;
  Document doc_;
  std::vector<Frame> stack_;
};

Result<Document> Parser::run(std::size_t& consumed) {
  if (in_.size() > limits_.max_size) {
    return make_error(std::errc::value_too_large,
                      "bencode: input of " + std::to_string(in_.size()) +
                          " bytes exceeds the limit of " + std::to_string(limits_.max_size));
  }
  doc_.input_ = in_;
  // Every value takes at least 2 input bytes; reserve a fraction and let the vector grow
  // geometrically beyond that rather than reserving for the worst case.
  doc_.tokens_.reserve(std::min(max_tokens_, in_.size() / 16 + 16));
  do {
    if (pos_ >= in_.size()) {
      return fail(std::errc::invalid_argument, "unexpected end of input", pos_);
    }
    const char c = in_[pos_];
    if (!stack_.empty() && c == 'e') {
      if (auto err = close_container()) return std::move(*err);
      continue;
    }
    if (!stack_.empty() && stack_.back().expect_key && !is_digit(c)) {
      return fail(std::errc::invalid_argument, "dict key is not a string", pos_);
    }
    if (doc_.tokens_.size() >= max_tokens_) {
      return fail(std::errc::value_too_large,
                  "more than " + std::to_string(max_tokens_) + " values", pos_);
    }
    std::optional<Error> err;
    if (c == 'i') {
      err = parse_integer();
    } else if (is_digit(c)) {
      err = parse_string();
    } else if (c == 'l' || c == 'd') {
      err = open_container(c == 'l' ? Type::list : Type::dict);
    } else {
      err = fail(std::errc::invalid_argument,
                 "unexpected byte '" + printable(std::string_view(&c, 1)) + "'", pos_);
    }
    if (err) return std::move(*err);
  } while (!stack_.empty());
  consumed = pos_;
  return std::move(doc_);
}

std::optional<Error> Parser::parse_integer() {
  const std::size_t start = pos_;
  std::size_t p = pos_ + 1;
  const bool negative = p < in_.size() && in_[p] == '-';
  if (negative) ++p;
  const std::size_t digits = p;
  // Magnitude in uint64: up to 2^63 for negatives (INT64_MIN), 2^63 - 1 otherwise.
  const std::uint64_t max_magnitude =
      std::uint64_t{std::numeric_limits<std::int64_t>::max()} + (negative ? 1 : 0);
  std::uint64_t magnitude = 0;
  for (; p < in_.size() && is_digit(in_[p]); ++p) {
    const unsigned d = static_cast<unsigned>(in_[p] - '0');
    if (magnitude > (max_magnitude - d) / 10) {
      return fail(std::errc::value_too_large, "integer overflows 64 bits", start);
    }
    magnitude = magnitude * 10 + d;
  }
  if (p >= in_.size()) return fail(std::errc::invalid_argument, "unterminated integer", start);
  if (in_[p] != 'e') {
    return fail(std::errc::invalid_argument,
                "unexpected byte '" + printable(in_.substr(p, 1)) + "' in integer", p);
  }
  if (p == digits) return fail(std::errc::invalid_argument, "integer without digits", start);
  if (in_[digits] == '0' && p - digits > 1) {
    return fail(std::errc::invalid_argument, "integer with leading zero", start);
  }
  if (negative && magnitude == 0) {
    return fail(std::errc::invalid_argument, "negative zero integer", start);
  }
  const std::int64_t value =
      negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
  pos_ = p + 1;
  const auto t = static_cast<std::uint32_t>(doc_.tokens_.size());
  doc_.tokens_.push_back({start, pos_, value, t + 1, 0, Type::integer});
  return finish_value(t);
}

std::optional<Error> Parser::parse_string() {
  const std::size_t start = pos_;
  std::size_t p = pos_;
  if (in_[p] == '0' && p + 1 < in_.size() && is_digit(in_[p + 1])) {
    return fail(std::errc::invalid_argument, "string length with leading zero", start);
  }
  // The length is compared with what is left of the input while it is being read, so a huge
  // prefix can neither overflow the arithmetic nor reach an allocation.
  const std::size_t remaining = in_.size() - start;
  std::size_t length = 0;
  bool too_long = false;
  for (; p < in_.size() && is_digit(in_[p]); ++p) {
    if (too_long) continue;
    length = length * 10 + static_cast<std::size_t>(in_[p] - '0');
    too_long = length > remaining;
  }
  if (p >= in_.size()) {
    return fail(std::errc::invalid_argument, "unterminated string length", start);
  }
  if (in_[p] != ':') {
    return fail(std::errc::invalid_argument,
                "unexpected byte '" + printable(in_.substr(p, 1)) + "' in string length", p);
  }
  ++p;
  if (too_long || length > in_.size() - p) {
    return fail(std::errc::invalid_argument,
                "string length " + printable(in_.substr(start, p - 1 - start)) +
                    " exceeds the remaining " + std::to_string(in_.size() - p) + " bytes",
                start);
  }
  pos_ = p + length;
  const auto t = static_cast<std::uint32_t>(doc_.tokens_.size());
  doc_.tokens_.push_back({start, pos_, static_cast<std::int64_t>(p), t + 1, 0, Type::string});
  return finish_value(t);
}

std::optional<Error> Parser::open_container(Type type) {
  if (stack_.size() >= limits_.max_depth) {
    return fail(std::errc::value_too_large,
                "nesting deeper than " + std::to_string(limits_.max_depth), pos_);
  }
  const auto t = static_cast<std::uint32_t>(doc_.tokens_.size());
  doc_.tokens_.push_back({pos_, 0, 0, 0, 0, type});
  stack_.push_back({t, kNoToken, type == Type::dict});
  ++pos_;
  return std::nullopt;
}

std::optional<Error> Parser::close_container() {
  const Frame frame = stack_.back();
  auto& tok = doc_.tokens_[frame.token];
  if (tok.type == Type::dict && !frame.expect_key) {
    return fail(std::errc::invalid_argument,
                "dict key '" + printable(payload(frame.last_key)) + "' has no value", pos_);
  }
  tok.end = ++pos_;
  tok.next = static_cast<std::uint32_t>(doc_.tokens_.size());
  stack_.pop_back();
  return finish_value(frame.token);
}

std::optional<Error> Parser::finish_value(std::uint32_t t) {
  if (stack_.empty()) return std::nullopt;
  Frame& frame = stack_.back();
  auto& parent = doc_.tokens_[frame.token];
  if (parent.type == Type::list) {
    ++parent.count;
    return std::nullopt;
  }
  if (!frame.expect_key) {  // a value completes a pair
    ++parent.count;
    frame.expect_key = true;
    return std::nullopt;
  }
  if (frame.last_key != kNoToken) {
    const std::string_view key = payload(t);
    const int cmp = key.compare(payload(frame.last_key));  // bytewise, as unsigned chars
    if (cmp <= 0 && limits_.strict) {
      return fail(
          std::errc::invalid_argument,
          std::string(cmp == 0 ? "duplicate" : "unsorted") + " dict key '" + printable(key) + "'",
          doc_.tokens_[t].begin);
    }
    if (cmp <= 0) doc_.canonical_ = false;
  }
  frame.last_key = t;
  frame.expect_key = false;
  return std::nullopt;
}

Result<Document> decode(std::string_view input, const Limits& limits) {
  std::size_t consumed = 0;
  auto doc = Parser(input, limits).run(consumed);
  if (doc && consumed != input.size()) {
    return fail(std::errc::invalid_argument, "trailing bytes after the value", consumed);
  }
  return doc;
}

Result<Document> decode_prefix(std::string_view input, std::size_t& consumed,
                               const Limits& limits) {
  return Parser(input, limits).run(consumed);
}

// ---- Node -------------------------------------------------------------------------------

Type Node::type() const {
  return doc_->tokens_[token_].type;
}

std::int64_t Node::as_int() const {
  return doc_->tokens_[token_].value;
}

std::string_view Node::as_string() const {
  const auto& tok = doc_->tokens_[token_];
  const auto begin = static_cast<std::size_t>(tok.value);
  return doc_->input_.substr(begin, tok.end - begin);
}

std::size_t Node::size() const {
  const auto& tok = doc_->tokens_[token_];
  return tok.type == Type::list || tok.type == Type::dict ? tok.count : 0;
}

Node Node::at(std::size_t i) const {
  std::uint32_t t = token_ + 1;
  for (; i > 0; --i)
    t = doc_->tokens_[t].next;
  return Node(doc_, t);
}

std::string_view Node::key_at(std::size_t i) const {
  std::uint32_t t = token_ + 1;
  for (; i > 0; --i)
    t = doc_->tokens_[doc_->tokens_[t].next].next;
  return Node(doc_, t).as_string();
}

Node Node::value_at(std::size_t i) const {
  std::uint32_t t = token_ + 1;
  for (; i > 0; --i)
    t = doc_->tokens_[doc_->tokens_[t].next].next;
  return Node(doc_, doc_->tokens_[t].next);
}

Node::Elements Node::elements() const {
  if (!is_list()) return Elements(doc_, token_, token_);
  return Elements(doc_, token_ + 1, doc_->tokens_[token_].next);
}

Node::Items Node::items() const {
  if (!is_dict()) return Items(doc_, token_, token_);
  return Items(doc_, token_ + 1, doc_->tokens_[token_].next);
}

Node::Elements::iterator& Node::Elements::iterator::operator++() {
  token_ = doc_->tokens()[token_].next;
  return *this;
}

DictItem Node::Items::iterator::operator*() const {
  const Node key(doc_, token_);
  return DictItem{key.as_string(), Node(doc_, doc_->tokens()[token_].next)};
}

Node::Items::iterator& Node::Items::iterator::operator++() {
  token_ = doc_->tokens()[doc_->tokens()[token_].next].next;
  return *this;
}

std::optional<Node> Node::find(std::string_view key) const {
  for (const DictItem item : items()) {
    if (item.key == key) return item.value;  // the first of equal keys wins (non-strict input)
  }
  return std::nullopt;
}

std::optional<std::int64_t> Node::find_int(std::string_view key) const {
  auto n = find(key);
  if (!n || !n->is_int()) return std::nullopt;
  return n->as_int();
}

std::optional<std::string_view> Node::find_string(std::string_view key) const {
  auto n = find(key);
  if (!n || !n->is_string()) return std::nullopt;
  return n->as_string();
}

std::optional<Node> Node::find_list(std::string_view key) const {
  auto n = find(key);
  if (!n || !n->is_list()) return std::nullopt;
  return n;
}

std::optional<Node> Node::find_dict(std::string_view key) const {
  auto n = find(key);
  if (!n || !n->is_dict()) return std::nullopt;
  return n;
}

std::string_view Node::raw() const {
  const auto& tok = doc_->tokens_[token_];
  return doc_->input_.substr(tok.begin, tok.end - tok.begin);
}

std::size_t Node::offset() const {
  return doc_->tokens_[token_].begin;
}

// ---- Encoder ----------------------------------------------------------------------------

namespace {

void append_int(std::int64_t i, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, end);
}

void append_string(std::string_view s, std::string& out) {
  append_int(static_cast<std::int64_t>(s.size()), out);
  out.push_back(':');
  out.append(s);
}

}  // namespace

// Recursion depth equals the Value's nesting, which the caller built (or decoded within
// Limits::max_depth).
void encode_to(const Value& value, std::string& out) {
  if (const auto* i = std::get_if<std::int64_t>(&value.v)) {
    out.push_back('i');
    append_int(*i, out);
    out.push_back('e');
  } else if (const auto* s = std::get_if<std::string>(&value.v)) {
    append_string(*s, out);
  } else if (const auto* l = std::get_if<Value::List>(&value.v)) {
    out.push_back('l');
    for (const auto& e : *l)
      encode_to(e, out);
    out.push_back('e');
  } else {
    out.push_back('d');
    for (const auto& [k, v] : std::get<Value::Dict>(value.v)) {
      append_string(k, out);
      encode_to(v, out);
    }
    out.push_back('e');
  }
}

std::string encode(const Value& value) {
  std::string out;
  encode_to(value, out);
  return out;
}

Value to_value(Node node) {
  switch (node.type()) {
    case Type::integer:
      return Value(node.as_int());
    case Type::string:
      return Value(node.as_string());
    case Type::list: {
      Value::List list;
      list.reserve(node.size());
      for (Node e : node.elements())
        list.push_back(to_value(e));
      return Value(std::move(list));
    }
    case Type::dict: {
      Value::Dict dict;
      // try_emplace keeps the first of equal keys, matching Node::find on non-strict input.
      for (const DictItem item : node.items())
        dict.try_emplace(std::string(item.key), to_value(item.value));
      return Value(std::move(dict));
    }
  }
  return Value();
}

}  // namespace torfs::bencode
