#include "engine/magnet.hpp"

#include <algorithm>
#include <optional>

namespace torfs {
namespace {

Error fail(std::errc code, const std::string& what, std::size_t offset) {
  return make_error(code, "magnet: " + what + " at byte " + std::to_string(offset));
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != lower(prefix[i])) return false;
  }
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 4648 base32 (A-Z, 2-7), case-insensitive, exactly 32 digits = 160 bits, no padding.
std::optional<Sha1Hash> sha1_from_base32(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  Sha1Hash out{};
  std::uint32_t bits = 0;
  int nbits = 0;
  std::size_t n = 0;
  for (char c : text) {
    c = lower(c);
    int v;
    if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return std::nullopt;
    }
    bits = (bits << 5) | static_cast<std::uint32_t>(v);
    nbits += 5;
    if (nbits >= 8) {
      nbits -= 8;
      out[n++] = static_cast<std::uint8_t>(bits >> nbits);
      bits &= (1u << nbits) - 1;
    }
  }
  return out;
}

// Percent-decodes `raw` (found at byte `offset` of the URI). On a malformed escape returns
// the offset of its '%' in `bad`.
std::optional<std::string> percent_decode(std::string_view raw, bool plus_is_space,
                                          std::size_t offset, std::size_t& bad) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '%') {
      const bool complete = i + 2 < raw.size();
      const int hi = complete ? hex_digit(raw[i + 1]) : -1;
      const int lo = complete ? hex_digit(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        bad = offset + i;
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else {
      out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return out;
}

// "tr" and "tr.1", "tr.2"... (some clients number repeated parameters).
bool key_is(std::string_view key, std::string_view name) {
  return key == name || (key.size() > name.size() && key.substr(0, name.size()) == name &&
                         key[name.size()] == '.');
}

void add_unique(std::vector<std::string>& list, std::string value) {
  if (value.empty()) return;
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

}  // namespace

Result<Magnet> parse_magnet(std::string_view uri, const MagnetLimits& limits) {
  if (uri.size() > limits.max_length) {
    return make_error(std::errc::value_too_large, "magnet: URI of " + std::to_string(uri.size()) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(limits.max_length));
  }
  constexpr std::string_view kScheme = "magnet:?";
  if (!starts_with_nocase(uri, kScheme)) {
    return make_error(std::errc::invalid_argument, "magnet: not a magnet URI (want 'magnet:?')");
  }
  Magnet magnet;
  bool have_hash = false;
  std::size_t params = 0;
  std::size_t pos = kScheme.size();
  while (pos <= uri.size()) {
    const std::size_t amp = std::min(uri.find('&', pos), uri.size());
    const std::string_view param = uri.substr(pos, amp - pos);
    const std::size_t offset = pos;
    pos = amp + 1;
    if (param.empty()) continue;
    if (++params > limits.max_params) {
      return fail(std::errc::value_too_large,
                  "more than " + std::to_string(limits.max_params) + " parameters", offset);
    }
    const std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = param.substr(0, eq);
    const bool is_xt = key_is(key, "xt"), is_dn = key == "dn", is_tr = key_is(key, "tr");
    const bool is_pe = key_is(key, "x.pe"), is_ws = key_is(key, "ws");
    if (!is_xt && !is_dn && !is_tr && !is_pe && !is_ws) continue;  // unknown: ignored

    std::size_t bad = 0;
    auto value = percent_decode(param.substr(eq + 1), is_dn, offset + eq + 1, bad);
    if (!value) {
      return fail(std::errc::invalid_argument,
                  "invalid percent-escape in '" + std::string(key) + "'", bad);
    }
    if (is_xt) {
      constexpr std::string_view kBtih = "urn:btih:";
      if (have_hash || !starts_with_nocase(*value, kBtih)) continue;
      const std::string_view digits = std::string_view(*value).substr(kBtih.size());
      auto hash = digits.size() == 40 ? sha1_from_hex(digits) : sha1_from_base32(digits);
      if (!hash) {
        return fail(
            std::errc::invalid_argument,
            "invalid info-hash in '" + std::string(key) + "' (want 40 hex or 32 base32 digits)",
            offset);
      }
      magnet.info_hash = *hash;
      have_hash = true;
    } else if (is_dn) {
      magnet.display_name = std::move(*value);
    } else if (is_tr) {
      add_unique(magnet.trackers, std::move(*value));
    } else if (is_ws) {
      add_unique(magnet.web_seeds, std::move(*value));
    } else if (auto peer = Endpoint::parse(*value)) {
      if (std::find(magnet.peers.begin(), magnet.peers.end(), *peer) == magnet.peers.end()) {
        magnet.peers.push_back(*peer);
      }
    }
  }
  if (!have_hash) {
    return make_error(std::errc::invalid_argument, "magnet: no xt=urn:btih: parameter");
  }
  return magnet;
}

namespace {

void append_encoded(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

}  // namespace

std::string to_magnet_uri(const Magnet& magnet) {
  std::string out = "magnet:?xt=urn:btih:" + to_hex(magnet.info_hash);
  if (!magnet.display_name.empty()) {
    out += "&dn=";
    append_encoded(magnet.display_name, out);
  }
  for (const auto& tr : magnet.trackers) {
    out += "&tr=";
    append_encoded(tr, out);
  }
  for (const auto& ws : magnet.web_seeds) {
    out += "&ws=";
    append_encoded(ws, out);
  }
  for (const auto& peer : magnet.peers) {
    out += "&x.pe=";
    append_encoded(peer.to_string(), out);
  }
  return out;
}

}  // namespace torfs
