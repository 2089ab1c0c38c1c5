// Bencode (BEP 3): a bounded, non-recursive decoder and an encoder.
//
// decode() parses into a flat token table; Nodes are cheap views into it and into the input
// bytes (the caller keeps the input alive as long as the Document). Every limit is a parameter;
// errors name what is wrong and the byte offset where it was found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cache/result.hpp"

namespace torfs::bencode {

struct Limits {
  std::size_t max_depth = 100;              // nesting of lists/dicts
  std::size_t max_tokens = 1'000'000;       // values of any kind
  std::size_t max_size = 10 * 1024 * 1024;  // input bytes
  // Strict: dict keys sorted and unique, integers canonical (no leading zeros, no "-0"),
  // nothing after the top-level value. Non-strict accepts unsorted keys (the first of equal
  // keys wins) but never non-canonical integers or trailing bytes.
  bool strict = true;
};

enum class Type : std::uint8_t { integer, string, list, dict };

class Document;

// A view of one value of a Document. Valid while the Document (and its input) lives.
class Node {
 public:
  Type type() const;
  bool is_int() const { return type() == Type::integer; }
  bool is_string() const { return type() == Type::string; }
  bool is_list() const { return type() == Type::list; }
  bool is_dict() const { return type() == Type::dict; }

  std::int64_t as_int() const;         // precondition: is_int()
  std::string_view as_string() const;  // precondition: is_string()
  std::size_t size() const;            // elements of a list, pairs of a dict, else 0

  // List element i (precondition: is_list(), i < size()).
  Node at(std::size_t i) const;
  // Dict pair i, in input order (precondition: is_dict(), i < size()).
  std::string_view key_at(std::size_t i) const;
  Node value_at(std::size_t i) const;

  // Dict lookups; nullopt when missing, not a dict, or of the wrong type.
  std::optional<Node> find(std::string_view key) const;
  std::optional<std::int64_t> find_int(std::string_view key) const;
  std::optional<std::string_view> find_string(std::string_view key) const;
  std::optional<Node> find_list(std::string_view key) const;
  std::optional<Node> find_dict(std::string_view key) const;

  // Iteration in input order, O(1) per step (at(i) and key_at(i) walk i siblings). Empty
  // ranges for values of another type.
  class Elements;
  class Items;
  Elements elements() const;  // list elements
  Items items() const;        // dict pairs

  // The exact encoded bytes of this value as they appear in the input (e.g. the info dict).
  std::string_view raw() const;
  // Byte offset of this value in the input.
  std::size_t offset() const;

 private:
  friend class Document;
  Node(const Document* doc, std::uint32_t token) : doc_(doc), token_(token) {}
  const Document* doc_;
  std::uint32_t token_;
};

struct DictItem {
  std::string_view key;
  Node value;
};

// Forward ranges over a list's elements / a dict's pairs (see Node::elements/items).
class Node::Elements {
 public:
  class iterator {
   public:
    Node operator*() const { return Node(doc_, token_); }
    iterator& operator++();
    bool operator==(const iterator& o) const { return token_ == o.token_; }

   private:
    friend class Elements;
    iterator(const Document* doc, std::uint32_t token) : doc_(doc), token_(token) {}
    const Document* doc_;
    std::uint32_t token_;
  };
  iterator begin() const { return iterator(doc_, first_); }
  iterator end() const { return iterator(doc_, last_); }

 private:
  friend class Node;
  Elements(const Document* doc, std::uint32_t first, std::uint32_t last)
      : doc_(doc), first_(first), last_(last) {}
  const Document* doc_;
  std::uint32_t first_, last_;
};

class Node::Items {
 public:
  class iterator {
   public:
    DictItem operator*() const;
    iterator& operator++();
    bool operator==(const iterator& o) const { return token_ == o.token_; }

   private:
    friend class Items;
    iterator(const Document* doc, std::uint32_t token) : doc_(doc), token_(token) {}
    const Document* doc_;
    std::uint32_t token_;  // the key token of the current pair
  };
  iterator begin() const { return iterator(doc_, first_); }
  iterator end() const { return iterator(doc_, last_); }

 private:
  friend class Node;
  Items(const Document* doc, std::uint32_t first, std::uint32_t last)
      : doc_(doc), first_(first), last_(last) {}
  const Document* doc_;
  std::uint32_t first_, last_;
};

class Document {
 public:
  // One decoded value. 40 bytes, no heap: a document is one flat vector of these.
  struct Token {
    std::size_t begin;    // offset of the value's first byte in the input
    std::size_t end;      // one past its last byte
    std::int64_t value;   // integer: the value; string: offset of the payload (ends at `end`)
    std::uint32_t next;   // index of the token after this value and all its children
    std::uint32_t count;  // list elements / dict pairs
    Type type;
  };

  Node root() const { return Node(this, 0); }
  // The input the document views (kept alive by the caller) and its flat token table.
  std::string_view input() const { return input_; }
  const std::vector<Token>& tokens() const { return tokens_; }
  // True when every dict's keys were sorted and unique, i.e. encode(to_value(root())) would
  // reproduce the input. Always true after a strict decode (which rejects anything else).
  bool canonical() const { return canonical_; }

 private:
  friend class Node;
  friend class Parser;
  std::string_view input_;
  std::vector<Token> tokens_;
  bool canonical_ = true;
};

// Decodes exactly one value spanning the whole input.
Result<Document> decode(std::string_view input, const Limits& limits = {});
// Decodes one value at the start of input; `consumed` receives its length (for messages
// followed by raw bytes, e.g. ut_metadata data). Trailing bytes are allowed.
Result<Document> decode_prefix(std::string_view input, std::size_t& consumed,
                               const Limits& limits = {});

// A value tree for building documents; dict keys are kept sorted by std::map.
struct Value {
  using List = std::vector<Value>;
  using Dict = std::map<std::string, Value, std::less<>>;
  std::variant<std::int64_t, std::string, List, Dict> v;

  Value() : v(std::int64_t{0}) {}
  Value(std::int64_t i) : v(i) {}
  Value(int i) : v(std::int64_t{i}) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(std::string_view s) : v(std::string(s)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(List l) : v(std::move(l)) {}
  Value(Dict d) : v(std::move(d)) {}
};

std::string encode(const Value& value);
void encode_to(const Value& value, std::string& out);
// Re-encodes a decoded node (canonical form: dict keys sorted).
Value to_value(Node node);

}  // namespace torfs::bencode
