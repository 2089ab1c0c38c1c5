// Fuzzes the HTTP tracker response parser: whatever it accepts obeys the documented bounds
// (peer count, intervals, no port 0, bounded texts); errors always carry a message.
// The input is also used as an announce URL, which must keep its parameters intact.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/tracker_proto.hpp"

using namespace torfs;

namespace {

void check_response(const AnnounceResponse& r) {
  if (r.peers.size() > kMaxPeers) __builtin_trap();
  for (const Endpoint& e : r.peers) {
    if (e.port == 0) __builtin_trap();
  }
  if (r.interval < kMinInterval || r.interval > kMaxInterval) __builtin_trap();
  if (r.min_interval && (*r.min_interval < kMinInterval || *r.min_interval > kMaxInterval)) {
    __builtin_trap();
  }
  if (r.warning.size() > kMaxWarningLength) __builtin_trap();
  if (r.tracker_id && (r.tracker_id->empty() || r.tracker_id->size() > kMaxTrackerIdLength)) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = parse_http_announce_response(input);
  if (r) {
    check_response(*r);
  } else if (r.error().message.empty()) {
    __builtin_trap();
  }

  if (size <= 4096) {
    AnnounceParams p;
    p.event = AnnounceEvent::started;
    const std::string url = build_announce_url(input, p, std::string(input.substr(0, 64)));
    const auto at = url.find("info_hash=");
    if (at == std::string::npos ||
        url.find("&compact=1&no_peer_id=1&event=started", at) == std::string::npos) {
      __builtin_trap();
    }
    if (url.find('#', at) != std::string::npos) __builtin_trap();
  }
  return 0;
}
