// Fuzzes the peer wire parsers: handshake, the incremental message framer (fed in random-sized
// chunks, as a socket would), index checks, bitfields and the BEP 10 extension handshake.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/bitfield.hpp"
#include "engine/wire.hpp"

using namespace torfs;

namespace {

void consume_messages(std::string_view data, std::size_t chunk) {
  std::string buffer;
  std::size_t fed = 0;
  while (fed < data.size()) {
    const std::size_t n = std::min(chunk, data.size() - fed);
    buffer.append(data.substr(fed, n));
    fed += n;
    for (;;) {
      wire::Message m;
      const wire::ParseResult r = wire::parse_message(buffer, m);
      if (r.status == wire::ParseStatus::error) return;
      if (r.status == wire::ParseStatus::need_more) {
        if (r.size < 4 || r.size > 4 + wire::kMaxMessageLength) __builtin_trap();
        break;
      }
      if (r.size < 4 || r.size > buffer.size()) __builtin_trap();
      (void)wire::check_indices(m, 1000, 256 * 1024);
      if (m.type == wire::MsgType::bitfield)
        (void)Bitfield::from_wire(m.payload, m.payload.size() * 8 - 3);
      if (m.type == wire::MsgType::extended && m.ext_id == 0) {
        (void)wire::decode_extension_handshake(m.payload);
      }
      buffer.erase(0, r.size);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) return 0;
  const std::size_t chunk = 1 + static_cast<unsigned char>(in[0]) % 64;
  const std::string_view rest = in.substr(1);
  (void)wire::handshake_prefix_valid(rest.substr(0, 20));
  if (auto hs = wire::parse_handshake(rest); hs) {
    char out[wire::kHandshakeSize];
    wire::write_handshake(*hs, out);
    if (std::string_view(out, sizeof out) != rest.substr(0, wire::kHandshakeSize)) __builtin_trap();
  }
  (void)wire::decode_extension_handshake(rest);
  consume_messages(rest, chunk);
  return 0;
}
