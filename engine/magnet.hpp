// Magnet URIs (BEP 9): "magnet:?xt=urn:btih:<hash>&dn=<name>&tr=<tracker>&x.pe=<peer>&ws=<url>".
// parse_magnet is pure and bounded: it never allocates more than a small multiple of its input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace torfs {

struct Magnet {
  Sha1Hash info_hash{};
  std::string display_name;            // dn (empty when absent)
  std::vector<std::string> trackers;   // tr, in order, duplicates dropped
  std::vector<Endpoint> peers;         // x.pe with a literal address (hostnames are skipped)
  std::vector<std::string> web_seeds;  // ws, in order, duplicates dropped
  friend bool operator==(const Magnet&, const Magnet&) = default;
};

struct MagnetLimits {
  std::size_t max_length = 64 * 1024;  // bytes of the whole URI
  std::size_t max_params = 200;        // '&'-separated parameters
};

// Accepts xt=urn:btih: with 40 hex or 32 base32 digits (either case); the first btih wins
// when several xt (or numbered xt.N) are given, other xt kinds (btmh...) are ignored. Values
// are percent-decoded; in dn a '+' also means a space. Unknown parameters are ignored.
// Errors (invalid_argument; value_too_large for the limits) name the parameter and byte offset.
Result<Magnet> parse_magnet(std::string_view uri, const MagnetLimits& limits = {});

// The inverse: xt (40 lowercase hex), dn, tr, ws, x.pe, percent-encoding every byte outside
// RFC 3986's unreserved set. parse_magnet(to_magnet_uri(m)) == m whenever m's trackers and
// web seeds are free of duplicates and the result is within the limits.
std::string to_magnet_uri(const Magnet& magnet);

}  // namespace torfs
