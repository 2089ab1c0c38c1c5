// Fuzzes the UDP tracker (BEP 15) reply parsers with the packet's own transaction id (so the
// body is parsed) and with another one (which must always be reported as foreign), for IPv4 and
// IPv6 peer lists. Accepted announces obey the documented bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/tracker_proto.hpp"

using namespace torfs;

namespace {

void check_announce(const Result<AnnounceResponse>& r) {
  if (!r) {
    if (r.error().message.size() > kMaxWarningLength + 200) __builtin_trap();
    return;
  }
  if (r->peers.size() > kMaxPeers) __builtin_trap();
  for (const Endpoint& e : r->peers) {
    if (e.port == 0) __builtin_trap();
  }
  if (r->interval < kMinInterval || r->interval > kMaxInterval) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> packet(data, size);
  std::uint32_t tid = 0;
  if (size >= 8) {
    tid = (std::uint32_t{data[4]} << 24) | (std::uint32_t{data[5]} << 16) |
          (std::uint32_t{data[6]} << 8) | data[7];
  }
  (void)parse_udp_connect(packet, tid);
  check_announce(parse_udp_announce(packet, tid, false));
  check_announce(parse_udp_announce(packet, tid, true));

  auto foreign = parse_udp_announce(packet, tid + 1, false);
  if (foreign || !is_foreign_udp_packet(foreign.error())) __builtin_trap();
  auto foreign_connect = parse_udp_connect(packet, tid ^ 0x80000000u);
  if (foreign_connect || !is_foreign_udp_packet(foreign_connect.error())) __builtin_trap();

  // Building requests never depends on anything but the parameters: cheap sanity on sizes.
  AnnounceParams p;
  const std::string_view url_data(reinterpret_cast<const char*>(data), size);
  const auto request = build_udp_announce(1, tid, p, url_data);
  const std::size_t used = std::min(size, kUdpMaxUrlData);
  if (request.size() != kUdpAnnounceSize + used + 2 * ((used + 254) / 255)) __builtin_trap();
  return 0;
}
