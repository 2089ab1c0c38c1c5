// Tracker protocol, pure: announce URLs (BEP 3), HTTP announce responses (BEP 3, 7, 23, 24),
// UDP tracker packets (BEP 15, 41). Bytes in, values or Errors out; no I/O, so every function
// here is unit-tested and fuzzed directly. engine/net/ does the networking around them.
//
// Everything a tracker says is clamped or bounded: intervals to [kMinInterval, kMaxInterval],
// peer lists to kMaxPeers, entries with port 0 dropped, trailing partial compact entries ignored.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace torfs {

enum class AnnounceEvent { none, started, completed, stopped };

struct AnnounceParams {
  Sha1Hash info_hash{};
  std::array<std::uint8_t, 20> peer_id{};
  std::uint16_t listen_port = 0;
  std::uint64_t uploaded = 0, downloaded = 0, left = 0;
  std::uint32_t numwant = 200;
  std::uint32_t key = 0;
  AnnounceEvent event = AnnounceEvent::none;
};

struct AnnounceResponse {
  std::vector<Endpoint> peers;
  std::uint32_t interval = 1800;  // seconds until the next regular announce
  std::optional<std::uint32_t> min_interval;
  std::optional<std::uint32_t> complete, incomplete;  // seeders, leechers
  std::string warning;
  std::optional<std::string> tracker_id;
};

struct UdpConnectResponse {
  std::uint64_t connection_id = 0;
};

inline constexpr std::uint32_t kMinInterval = 60;      // seconds; also for `min interval`
inline constexpr std::uint32_t kMaxInterval = 86'400;  // one day
inline constexpr std::size_t kMaxPeers = 2000;         // per response, IPv4 + IPv6 together
inline constexpr std::size_t kMaxHttpBody = 2 * 1024 * 1024;
inline constexpr std::size_t kMaxWarningLength = 1024;  // longer tracker texts are truncated
inline constexpr std::size_t kMaxTrackerIdLength = 256;

std::string_view to_string(AnnounceEvent event);

// Percent-encodes every byte except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string percent_encode(std::string_view bytes);

// The GET URL of an HTTP announce: `announce_url` with its existing query kept (a fragment is
// dropped) and info_hash, peer_id (binary, percent-encoded), port, uploaded, downloaded, left,
// key (8 hex digits), numwant, compact=1, no_peer_id=1, event (unless none) and trackerid
// appended.
std::string build_announce_url(std::string_view announce_url, const AnnounceParams& params,
                               const std::optional<std::string>& tracker_id);

// Parses a bencoded HTTP announce response (at most kMaxHttpBody bytes; larger is an error).
// `failure reason` becomes an Error carrying the tracker's text (code: connection_refused);
// malformed bodies are Errors with code protocol_error naming what is wrong. Peers come from
// `peers` (compact 6-byte entries or a list of {ip, port} dictionaries with literal IPv4/IPv6
// addresses; host names are dropped) and `peers6` (18-byte entries).
Result<AnnounceResponse> parse_http_announce_response(std::string_view body);

// BEP 15 packets. Transaction ids are chosen by the caller (random, one per request).
inline constexpr std::uint64_t kUdpProtocolId = 0x41727101980ULL;
inline constexpr std::size_t kUdpAnnounceSize = 98;  // without BEP 41 options
inline constexpr std::size_t kUdpMaxUrlData = 1024;  // longer URL data is truncated

std::array<std::uint8_t, 16> build_udp_connect(std::uint32_t transaction_id);
// IPv4 announce (IP field 0: the tracker uses the source address). A non-empty `url_data` (the
// path and query of the udp:// URL) is appended as BEP 41 URLData options of <= 255 bytes each.
std::vector<std::uint8_t> build_udp_announce(std::uint64_t connection_id,
                                             std::uint32_t transaction_id,
                                             const AnnounceParams& params,
                                             std::string_view url_data = {});
// A reply whose transaction id differs from `expected_tid` is an Error with code
// invalid_argument (the caller ignores the packet and keeps waiting). An error packet
// (action 3) is an Error with the tracker's message (code connection_refused).
Result<UdpConnectResponse> parse_udp_connect(std::span<const std::uint8_t> packet,
                                             std::uint32_t expected_tid);
// `v6_peers`: the announce went over IPv6, so peers are 18-byte entries (BEP 15).
Result<AnnounceResponse> parse_udp_announce(std::span<const std::uint8_t> packet,
                                            std::uint32_t expected_tid, bool v6_peers = false);

// True when `error` came from parse_udp_* because of a foreign transaction id (or a packet too
// short to carry one): such packets are ignored, not treated as the tracker's answer.
bool is_foreign_udp_packet(const Error& error);

}  // namespace torfs
