// Fuzzes the BEP 9 ut_metadata parser and the assembler fed with what it accepts: nothing may
// crash, a parsed data message always fits its total_size, and re-encoding a parsed message
// parses back to the same values.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/ut_metadata.hpp"

using namespace torfs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = ut_metadata::parse(in);
  if (!m) return 0;
  if (m->type == ut_metadata::MsgType::data) {
    if (m->data.size() != ut_metadata::piece_size(m->total_size, m->piece)) __builtin_trap();
    ut_metadata::Assembler a;
    if (!a.reset(m->total_size)) __builtin_trap();
    if (a.add(m->piece, m->total_size, m->data) != nullptr) __builtin_trap();
    if (!a.have(m->piece)) __builtin_trap();
    const std::string encoded = ut_metadata::encode_data(m->piece, m->total_size, m->data);
    auto again = ut_metadata::parse(encoded);  // its data views `encoded`
    if (!again || again->data != m->data || again->piece != m->piece) __builtin_trap();
  } else {
    const std::string enc = m->type == ut_metadata::MsgType::request
                                ? ut_metadata::encode_request(m->piece)
                                : ut_metadata::encode_reject(m->piece);
    auto again = ut_metadata::parse(enc);
    if (!again || again->type != m->type || again->piece != m->piece) __builtin_trap();
  }
  return 0;
}
