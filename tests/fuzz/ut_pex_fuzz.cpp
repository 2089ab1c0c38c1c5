// Fuzzes the BEP 11 ut_pex parser: nothing may crash, lists stay within their bounds, no
// parsed peer has port 0, and encoding what was parsed parses back to the same (capped) peers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/ut_pex.hpp"

using namespace torfs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = ut_pex::parse(in);
  if (!m) return 0;
  if (m->added.size() > 2 * ut_pex::kMaxParsed || m->dropped.size() > 2 * ut_pex::kMaxParsed)
    __builtin_trap();
  for (const auto& p : m->added)
    if (p.endpoint.port == 0) __builtin_trap();
  auto again = ut_pex::parse(ut_pex::encode(*m));
  if (!again) __builtin_trap();
  if (again->added.size() != std::min(m->added.size(), ut_pex::kMaxAdded)) __builtin_trap();
  if (again->dropped.size() != std::min(m->dropped.size(), ut_pex::kMaxDropped)) __builtin_trap();
  return 0;
}
