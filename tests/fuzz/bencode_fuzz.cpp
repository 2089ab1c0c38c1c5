// Fuzzes the bencode decoder and the encoder against each other:
// - whatever decodes re-encodes (canonically) into something that decodes strictly, and that
//   re-encoding is a fixed point;
// - strictly decoded input is already canonical: it re-encodes byte for byte;
// - decode_prefix agrees with decode on the prefix it consumed;
// - lookups by key find the first pair with that key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/bencode.hpp"

using namespace torfs::bencode;

namespace {

void check_lookups(Node node) {
  for (const DictItem item : node.items()) {
    auto found = node.find(item.key);
    if (!found) __builtin_trap();
    for (const DictItem first : node.items()) {
      if (first.key == item.key) {
        if (found->offset() != first.value.offset()) __builtin_trap();
        break;
      }
    }
  }
  std::size_t n = 0;
  for (Node e : node.elements()) {
    if (node.at(n).offset() != e.offset()) __builtin_trap();
    ++n;
  }
  if (node.is_list() && n != node.size()) __builtin_trap();
}

void round_trip(std::string_view input, bool strict) {
  auto doc = decode(input, Limits{.strict = strict});
  if (!doc) return;
  const Node root = doc->root();
  if (root.raw() != input || root.offset() != 0) __builtin_trap();
  check_lookups(root);
  const std::string encoded = encode(to_value(root));
  if (strict && encoded != input) __builtin_trap();
  auto again = decode(encoded);  // strict
  if (!again) __builtin_trap();
  if (encode(to_value(again->root())) != encoded) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  round_trip(input, true);
  round_trip(input, false);

  std::size_t consumed = 0;
  auto prefix = decode_prefix(input, consumed, Limits{.strict = false});
  if (prefix) {
    if (consumed == 0 || consumed > size) __builtin_trap();
    if (!decode(input.substr(0, consumed), Limits{.strict = false})) __builtin_trap();
  }
  return 0;
}
