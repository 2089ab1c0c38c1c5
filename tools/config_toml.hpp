// The subset of TOML that torfs's config file uses, parsed without any dependency (pure and
// bounded, fuzzed by tests/fuzz/config_toml_fuzz.cpp):
//   # comment
//   key = value                 top-level keys (defaults for every command that has the option)
//   [command]                   a section per subcommand
//   key = "basic \"string\"\n"  'literal string'  42  -1_000  2.5  1e3  true  false
//   key = ["a", 'b', 3]         arrays of those, may span lines, trailing comma allowed
// Keys are bare (A-Z a-z 0-9 _ -) or quoted. Anything else TOML has (dotted keys, nested
// tables, inline tables, multi-line strings, dates, nested arrays) is rejected with a message
// naming the file, line and what is unsupported, as are duplicate keys and sections.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"

namespace torfs::tools {

struct ConfigValue {
  enum class Kind { string, integer, floating, boolean };
  Kind kind = Kind::string;
  std::string text;  // the string's contents, or the number/boolean as written (no `_`)
};

struct ConfigEntry {
  std::string section;  // "" for top-level keys
  std::string key;
  std::vector<ConfigValue> values;
  bool is_array = false;
  int line = 0;  // 1-based line of the key
};

struct ConfigDocument {
  std::vector<ConfigEntry> entries;   // in file order
  std::vector<std::string> sections;  // every [section] header, in file order
  std::vector<int> section_lines;     // their line numbers
};

// Inputs larger than this are refused (a config file is a few hundred bytes).
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

// Parses `text`; `file` only names the input in error messages ("FILE:LINE: what is wrong").
Result<ConfigDocument> parse_config_toml(std::string_view text, std::string_view file);

}  // namespace torfs::tools
