#include "tools/size_option.hpp"

#include <cctype>
#include <limits>

namespace torfs::tools {

namespace {

Error bad_size(std::string_view text, const std::string& why) {
  return make_error(std::errc::invalid_argument, "invalid size '" + std::string(text) + "': " +
                                                     why + " (e.g. 4096, 512K, 8M, 1.5GiB, 2T)");
}

// log2 of the suffix's multiplier, or -1 when the suffix is not one we accept.
int suffix_shift(std::string_view suffix) {
  if (suffix.empty() || suffix == "B" || suffix == "b") return 0;
  const char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
  const std::string_view units = "KMGT";
  const auto pos = units.find(unit);
  if (pos == std::string_view::npos) return -1;
  const std::string_view rest = suffix.substr(1);
  if (!rest.empty() && rest != "iB" && rest != "ib") return -1;
  return 10 * static_cast<int>(pos + 1);
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t whole = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (whole > (kMax - digit) / 10) return bad_size(text, "too large");
    whole = whole * 10 + digit;
    ++i;
  }
  if (i == 0) return bad_size(text, "it must start with a number");
  std::uint64_t frac = 0, frac_scale = 1;  // frac / frac_scale, at most 9 digits kept
  if (i < text.size() && text[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (frac_scale < 1'000'000'000) {
        frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
        frac_scale *= 10;
      }
      ++i;
    }
    if (i == start) return bad_size(text, "no digits after the decimal point");
  }
  const std::string_view suffix = text.substr(i);
  const int shift = suffix_shift(suffix);
  if (shift < 0) {
    return bad_size(text, "unknown unit '" + std::string(suffix) +
                              "'; use B, K, M, G, T or KiB, MiB, GiB, TiB (powers of 1024)");
  }
  if (shift > 0 && whole > (kMax >> shift)) return bad_size(text, "too large");
  const std::uint64_t bytes = whole << shift;
  // frac * 2^shift / frac_scale without overflow: frac < 10^9 < 2^30 and shift <= 40.
  const unsigned __int128 extra = (static_cast<unsigned __int128>(frac) << shift) / frac_scale;
  if (extra > kMax - bytes) return bad_size(text, "too large");
  return bytes + static_cast<std::uint64_t>(extra);
}

CLI::Option* add_size_option(CLI::App& cmd, const std::string& name, std::uint64_t& out,
                             const std::string& description) {
  return cmd
      .add_option_function<std::string>(
          name,
          [&out, name](const std::string& text) {
            auto size = parse_size(text);
            if (!size) throw CLI::ValidationError(name, size.error().message);
            out = *size;
          },
          description)
      ->type_name("SIZE");
}

}  // namespace torfs::tools
