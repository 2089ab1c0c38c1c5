#include "engine/lsd.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace torfs::lsd {
namespace {

Error bad(const std::string& what) {
  return make_error(std::errc::invalid_argument, "LSD announce: " + what);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string encode(const Announce& announce, bool v6) {
  const std::string group = v6 ? "[" + std::string(kMulticastV6) + "]" : std::string(kMulticastV4);
  std::string out = "BT-SEARCH * HTTP/1.1\r\nHost: " + group + ":" + std::to_string(kPort) +
                    "\r\nPort: " + std::to_string(announce.port) + "\r\n";
  for (std::size_t i = 0; i < announce.info_hashes.size() && i < kMaxInfoHashes; ++i)
    out += "Infohash: " + to_hex(announce.info_hashes[i]) + "\r\n";
  if (!announce.cookie.empty()) out += "cookie: " + announce.cookie + "\r\n";
  out += "\r\n\r\n";
  return out;
}

Result<Announce> parse(std::string_view datagram) {
  if (datagram.size() > kMaxDatagram) {
    return make_error(std::errc::value_too_large,
                      "LSD announce: " + std::to_string(datagram.size()) + " bytes");
  }
  Announce a;
  bool first = true, have_port = false;
  while (!datagram.empty()) {
    const std::size_t nl = datagram.find('\n');
    const std::string_view line =
        trim(datagram.substr(0, nl == std::string_view::npos ? datagram.size() : nl));
    datagram.remove_prefix(nl == std::string_view::npos ? datagram.size() : nl + 1);
    if (first) {
      if (line != "BT-SEARCH * HTTP/1.1") return bad("not a BT-SEARCH request");
      first = false;
      continue;
    }
    if (line.empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bad("header line without ':'");
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Port")) {
      unsigned port = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), port);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size() || port == 0 ||
          port > 65535) {
        return bad("bad Port '" + std::string(value.substr(0, 16)) + "'");
      }
      a.port = static_cast<std::uint16_t>(port);
      have_port = true;
    } else if (iequals(name, "Infohash")) {
      auto hash = sha1_from_hex(value);
      if (!hash) return bad("bad Infohash '" + std::string(value.substr(0, 48)) + "'");
      if (a.info_hashes.size() < kMaxInfoHashes) a.info_hashes.push_back(*hash);
    } else if (iequals(name, "cookie")) {
      a.cookie = std::string(value.substr(0, 64));
    }
  }
  if (first) return bad("empty datagram");
  if (!have_port) return bad("no Port");
  if (a.info_hashes.empty()) return bad("no Infohash");
  return a;
}

}  // namespace torfs::lsd
