#include "engine/endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace torfs {

Endpoint Endpoint::v4(std::array<std::uint8_t, 4> a, std::uint16_t port) {
  Endpoint e;
  std::memcpy(e.address.data(), a.data(), 4);
  e.port = port;
  return e;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  Endpoint e;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    e.v6 = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.empty() || host.size() > 64 || port_text.empty()) return std::nullopt;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  e.port = static_cast<std::uint16_t>(port);
  const std::string host_str(host);
  if (inet_pton(e.v6 ? AF_INET6 : AF_INET, host_str.c_str(), e.address.data()) != 1) {
    return std::nullopt;
  }
  return e;
}

std::string Endpoint::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, address.data(), buf, sizeof buf);
  return v6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
            : std::string(buf) + ":" + std::to_string(port);
}

}  // namespace torfs
