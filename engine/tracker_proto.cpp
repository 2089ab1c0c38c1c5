#include "engine/tracker_proto.hpp"

#include <algorithm>
#include <cstring>

#include "engine/bencode.hpp"

namespace torfs {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

std::uint32_t clamp_interval(std::int64_t seconds) {
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(seconds, kMinInterval, kMaxInterval));
}

// Tracker texts end up in logs and `torfs status`: bound them and replace control characters.
std::string printable(std::string_view text) {
  std::string out(text.substr(0, kMaxWarningLength));
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

Error protocol_error(std::string what) {
  return make_error(std::errc::protocol_error, "tracker response: " + std::move(what));
}

std::uint16_t read_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t read_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint64_t read_u64(const std::uint8_t* p) {
  return (std::uint64_t{read_u32(p)} << 32) | read_u32(p + 4);
}
void put_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8)
    p[i] = static_cast<std::uint8_t>(v);
}
void put_u64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8)
    p[i] = static_cast<std::uint8_t>(v);
}

// Appends whole compact entries (4 or 16 address bytes + 2 port bytes); a trailing partial
// entry is ignored, port 0 is dropped, the total stays within kMaxPeers.
void append_compact(std::span<const std::uint8_t> bytes, bool v6, std::vector<Endpoint>& out) {
  const std::size_t addr_len = v6 ? 16 : 4;
  const std::size_t entry = addr_len + 2;
  for (std::size_t off = 0; off + entry <= bytes.size() && out.size() < kMaxPeers; off += entry) {
    Endpoint e;
    e.v6 = v6;
    std::memcpy(e.address.data(), bytes.data() + off, addr_len);
    e.port = read_u16(bytes.data() + off + addr_len);
    if (e.port != 0) out.push_back(e);
  }
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// BEP 3 dictionary model: {ip: "1.2.3.4" | "::1", port: N, peer id: ...}. Host names would need
// DNS and are dropped, as are entries with missing or out-of-range fields.
void append_dict_peers(bencode::Node list, std::vector<Endpoint>& out) {
  for (bencode::Node peer : list.elements()) {
    if (out.size() >= kMaxPeers) return;
    const auto ip = peer.find_string("ip");
    const auto port = peer.find_int("port");
    if (!ip || !port || *port <= 0 || *port > 65535 || ip->empty() || ip->size() > 45) continue;
    const std::string port_text = std::to_string(*port);
    const std::string text = ip->find(':') != std::string_view::npos
                                 ? "[" + std::string(*ip) + "]:" + port_text
                                 : std::string(*ip) + ":" + port_text;
    if (auto e = Endpoint::parse(text)) out.push_back(*e);
  }
}

std::optional<std::uint32_t> count_field(bencode::Node root, std::string_view key) {
  const auto v = root.find_int(key);
  if (!v || *v < 0 || *v > std::int64_t{UINT32_MAX}) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

}  // namespace

std::string_view to_string(AnnounceEvent event) {
  switch (event) {
    case AnnounceEvent::started:
      return "started";
    case AnnounceEvent::completed:
      return "completed";
    case AnnounceEvent::stopped:
      return "stopped";
    case AnnounceEvent::none:
      break;
  }
  return "";
}

std::string percent_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string build_announce_url(std::string_view announce_url, const AnnounceParams& params,
                               const std::optional<std::string>& tracker_id) {
  std::string url(announce_url.substr(0, announce_url.find('#')));
  if (url.find('?') == std::string::npos) {
    url += '?';
  } else if (url.back() != '?' && url.back() != '&') {
    url += '&';
  }
  auto binary = [](const auto& array) {
    return percent_encode(std::string_view(reinterpret_cast<const char*>(array.data()), 20));
  };
  char key[9];
  for (int i = 0; i < 8; ++i)
    key[i] = kHex[(params.key >> (28 - 4 * i)) & 15];
  key[8] = '\0';
  url += "info_hash=" + binary(params.info_hash);
  url += "&peer_id=" + binary(params.peer_id);
  url += "&port=" + std::to_string(params.listen_port);
  url += "&uploaded=" + std::to_string(params.uploaded);
  url += "&downloaded=" + std::to_string(params.downloaded);
  url += "&left=" + std::to_string(params.left);
  url += "&key=";
  url += key;
  url += "&numwant=" + std::to_string(params.numwant);
  url += "&compact=1&no_peer_id=1";
  if (params.event != AnnounceEvent::none) {
    url += "&event=";
    url += to_string(params.event);
  }
  if (tracker_id && !tracker_id->empty()) url += "&trackerid=" + percent_encode(*tracker_id);
  return url;
}

Result<AnnounceResponse> parse_http_announce_response(std::string_view body) {
  if (body.size() > kMaxHttpBody) {
    return protocol_error("body of " + std::to_string(body.size()) + " bytes exceeds the " +
                          std::to_string(kMaxHttpBody) + "-byte limit");
  }
  bencode::Limits limits;
  limits.max_depth = 16;
  limits.max_tokens = 100'000;
  limits.max_size = kMaxHttpBody;
  limits.strict = false;  // real trackers emit unsorted keys and trailing newlines
  std::size_t consumed = 0;
  auto doc = bencode::decode_prefix(body, consumed, limits);
  if (!doc) return protocol_error("not bencode: " + doc.error().message);
  const bencode::Node root = doc->root();
  if (!root.is_dict()) return protocol_error("top-level value is not a dictionary");

  if (auto failure = root.find_string("failure reason")) {
    return make_error(std::errc::connection_refused, printable(*failure));
  }
  AnnounceResponse r;
  if (auto interval = root.find_int("interval")) r.interval = clamp_interval(*interval);
  if (auto min = root.find_int("min interval")) r.min_interval = clamp_interval(*min);
  r.complete = count_field(root, "complete");
  r.incomplete = count_field(root, "incomplete");
  if (auto warning = root.find_string("warning message")) r.warning = printable(*warning);
  if (auto id = root.find_string("tracker id"); id && !id->empty()) {
    if (id->size() <= kMaxTrackerIdLength) r.tracker_id = std::string(*id);
  }

  const auto peers = root.find("peers");
  const auto peers6 = root.find_string("peers6");
  if (!peers && !peers6) return protocol_error("neither `peers` nor `peers6` present");
  if (peers && peers->is_string()) {
    append_compact(as_bytes(peers->as_string()), false, r.peers);
  } else if (peers && peers->is_list()) {
    append_dict_peers(*peers, r.peers);
  } else if (peers) {
    return protocol_error("`peers` is neither a string nor a list");
  }
  if (peers6) append_compact(as_bytes(*peers6), true, r.peers);
  return r;
}

std::array<std::uint8_t, 16> build_udp_connect(std::uint32_t transaction_id) {
  std::array<std::uint8_t, 16> p{};
  put_u64(p.data(), kUdpProtocolId);
  put_u32(p.data() + 8, 0);  // action: connect
  put_u32(p.data() + 12, transaction_id);
  return p;
}

std::vector<std::uint8_t> build_udp_announce(std::uint64_t connection_id,
                                             std::uint32_t transaction_id,
                                             const AnnounceParams& params,
                                             std::string_view url_data) {
  std::vector<std::uint8_t> p(kUdpAnnounceSize);
  std::uint8_t* d = p.data();
  put_u64(d, connection_id);
  put_u32(d + 8, 1);  // action: announce
  put_u32(d + 12, transaction_id);
  std::memcpy(d + 16, params.info_hash.data(), 20);
  std::memcpy(d + 36, params.peer_id.data(), 20);
  put_u64(d + 56, params.downloaded);
  put_u64(d + 64, params.left);
  put_u64(d + 72, params.uploaded);
  // BEP 15 numbers events differently from their declaration order here.
  std::uint32_t event = 0;
  switch (params.event) {
    case AnnounceEvent::none:
      event = 0;
      break;
    case AnnounceEvent::completed:
      event = 1;
      break;
    case AnnounceEvent::started:
      event = 2;
      break;
    case AnnounceEvent::stopped:
      event = 3;
      break;
  }
  put_u32(d + 80, event);
  put_u32(d + 84, 0);  // IP: the tracker uses the packet's source address
  put_u32(d + 88, params.key);
  put_u32(d + 92, params.numwant);
  put_u16(d + 96, params.listen_port);
  url_data = url_data.substr(0, kUdpMaxUrlData);
  while (!url_data.empty()) {
    const std::size_t n = std::min<std::size_t>(url_data.size(), 255);
    p.push_back(0x2);  // BEP 41 URLData
    p.push_back(static_cast<std::uint8_t>(n));
    p.insert(p.end(), url_data.begin(), url_data.begin() + n);
    url_data.remove_prefix(n);
  }
  return p;
}

namespace {

// Common header check. Returns the action on success.
Result<std::uint32_t> udp_header(std::span<const std::uint8_t> packet, std::uint32_t expected_tid) {
  if (packet.size() < 8) {
    return make_error(std::errc::invalid_argument, "UDP tracker packet of " +
                                                       std::to_string(packet.size()) +
                                                       " bytes is too short for a header");
  }
  const std::uint32_t tid = read_u32(packet.data() + 4);
  if (tid != expected_tid) {
    return make_error(std::errc::invalid_argument,
                      "UDP tracker packet with foreign transaction id " + std::to_string(tid));
  }
  const std::uint32_t action = read_u32(packet.data());
  if (action == 3) {
    const std::string_view text(reinterpret_cast<const char*>(packet.data() + 8),
                                packet.size() - 8);
    return make_error(std::errc::connection_refused, printable(text));
  }
  return action;
}

}  // namespace

Result<UdpConnectResponse> parse_udp_connect(std::span<const std::uint8_t> packet,
                                             std::uint32_t expected_tid) {
  auto action = udp_header(packet, expected_tid);
  if (!action) return std::move(action).take_error();
  if (*action != 0) {
    return protocol_error("UDP connect reply has action " + std::to_string(*action));
  }
  if (packet.size() < 16) {
    return protocol_error("UDP connect reply of " + std::to_string(packet.size()) +
                          " bytes, expected 16");
  }
  return UdpConnectResponse{read_u64(packet.data() + 8)};
}

Result<AnnounceResponse> parse_udp_announce(std::span<const std::uint8_t> packet,
                                            std::uint32_t expected_tid, bool v6_peers) {
  auto action = udp_header(packet, expected_tid);
  if (!action) return std::move(action).take_error();
  if (*action != 1) {
    return protocol_error("UDP announce reply has action " + std::to_string(*action));
  }
  if (packet.size() < 20) {
    return protocol_error("UDP announce reply of " + std::to_string(packet.size()) +
                          " bytes, expected at least 20");
  }
  AnnounceResponse r;
  r.interval = clamp_interval(read_u32(packet.data() + 8));
  r.incomplete = read_u32(packet.data() + 12);
  r.complete = read_u32(packet.data() + 16);
  append_compact(packet.subspan(20), v6_peers, r.peers);
  return r;
}

bool is_foreign_udp_packet(const Error& error) {
  return error.code == std::make_error_code(std::errc::invalid_argument);
}

}  // namespace torfs
