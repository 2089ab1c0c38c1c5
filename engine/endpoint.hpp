// A peer or tracker address without Boost.Asio in sight: parsers produce these.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace torfs {

struct Endpoint {
  std::array<std::uint8_t, 16> address{};  // IPv4 uses the first 4 bytes
  bool v6 = false;
  std::uint16_t port = 0;

  static Endpoint v4(std::array<std::uint8_t, 4> a, std::uint16_t port);
  // "1.2.3.4:5", "[::1]:5"; nullopt when malformed (no DNS lookups here).
  static std::optional<Endpoint> parse(std::string_view text);
  std::string to_string() const;  // inverse of parse
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace torfs
