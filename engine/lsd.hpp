// BEP 14 local service discovery messages: "BT-SEARCH * HTTP/1.1" datagrams multicast to
// 239.192.152.143:6771 (IPv4) or [ff15::efc0:988f]:6771 (IPv6) with the sender's listen port,
// its info-hashes and a cookie (to recognise our own announces looped back). The two families
// differ only in the Host header. Pure and bounded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"

namespace torfs::lsd {

inline constexpr std::string_view kMulticastV4 = "239.192.152.143";
inline constexpr std::string_view kMulticastV6 = "ff15::efc0:988f";
inline constexpr std::uint16_t kPort = 6771;
inline constexpr std::size_t kMaxDatagram = 1400;
inline constexpr std::size_t kMaxInfoHashes = 16;  // per datagram, both ways

struct Announce {
  std::uint16_t port = 0;  // the sender's peer listen port
  std::vector<Sha1Hash> info_hashes;
  std::string cookie;  // empty when absent
};

// At most kMaxInfoHashes info-hashes (the first ones) go into one datagram. The Host header
// names the group the datagram is for: "239.192.152.143:6771" or "[ff15::efc0:988f]:6771".
std::string encode(const Announce& announce, bool v6 = false);
// Header names are case-insensitive; lines end with \r\n (a bare \n is accepted). Requires
// the BT-SEARCH request line, a Port in 1..65535 and at least one 40-hex-digit Infohash;
// unknown headers are ignored, further Infohash headers beyond kMaxInfoHashes dropped.
Result<Announce> parse(std::string_view datagram);

}  // namespace torfs::lsd
