// Fuzzes the config file parser (tools/config_toml.cpp). The parser is pure and depends on
// nothing but the standard library, so its source is compiled straight into this target
// (fuzz builds have no tools/ library). Whatever parses must be consistent: line numbers in
// order and inside the text, no key twice in a section, every section known, no empty number.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "tools/config_toml.cpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto doc = torfs::tools::parse_config_toml(input, "fuzz.toml");
  if (!doc) {
    if (doc.error().message.rfind("fuzz.toml", 0) != 0) __builtin_trap();
    return 0;
  }
  int lines = 1;
  for (const char c : input)
    lines += c == '\n';
  int last = 0;
  std::set<std::pair<std::string, std::string>> keys;
  const std::set<std::string> sections(doc->sections.begin(), doc->sections.end());
  if (sections.size() != doc->sections.size()) __builtin_trap();
  for (const auto& e : doc->entries) {
    if (e.line < last || e.line < 1 || e.line > lines) __builtin_trap();
    last = e.line;
    if (e.key.empty() || !keys.insert({e.section, e.key}).second) __builtin_trap();
    if (!e.section.empty() && !sections.count(e.section)) __builtin_trap();
    if (!e.is_array && e.values.size() != 1) __builtin_trap();
    for (const auto& v : e.values) {
      if (v.kind != torfs::tools::ConfigValue::Kind::string && v.text.empty()) __builtin_trap();
    }
  }
  return 0;
}
