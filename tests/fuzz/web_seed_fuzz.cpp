// Fuzzes the web seed response checks (BEP 19) with foreign header bytes. Input: a status line
// "NNN\n" then the Content-Range value. Properties: never crash; a Content-Range that parses has
// first <= last < total; a response accepted for a request matches it exactly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/web_seed_proto.hpp"

using namespace torfs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  if (nl == std::string_view::npos || nl > 3) return 0;
  unsigned status = 0;
  for (char c : input.substr(0, nl))
    status = status * 10 + static_cast<unsigned>(static_cast<unsigned char>(c) % 10);
  const std::string_view value = input.substr(nl + 1);
  auto range = web_seed::parse_content_range(value);
  if (range && (range->last < range->first || (range->total && *range->total <= range->last))) {
    __builtin_trap();
  }
  web_seed::FileRequest req;
  req.file_size = 1000;
  req.file_offset = 0;
  req.length = 100;
  web_seed::ResponseHead head{status, value, std::nullopt};
  if (web_seed::check_response(head, req)) {
    if (status != 206 || !range || range->first != 0 || range->last != 99) __builtin_trap();
  }
  req.length = 1000;
  head.content_length = 1000;
  if (web_seed::check_response(head, req) && status != 200 && status != 206) __builtin_trap();
  return 0;
}
