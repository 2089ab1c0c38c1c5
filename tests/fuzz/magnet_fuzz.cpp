// Fuzzes the magnet URI parser: whatever parses re-serializes (to_magnet_uri) into a URI that
// parses back to the same magnet, as long as that URI is within the length limit.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/magnet.hpp"

using namespace torfs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto m = parse_magnet(input);
  if (!m) return 0;
  const std::string uri = to_magnet_uri(*m);
  if (uri.size() > MagnetLimits{}.max_length) return 0;
  auto again = parse_magnet(uri);
  if (!again || !(*again == *m)) __builtin_trap();
  return 0;
}
