// Byte sizes on the command line ("--cache-size 8G"): a number with an optional binary suffix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cache/result.hpp"

namespace torfs::tools {

// Parses "SIZE": a decimal number (a fraction is allowed: "1.5G") followed by nothing or B
// (bytes), K/M/G/T or KiB/MiB/GiB/TiB (powers of 1024; the letter in either case). "KB", "MB"
// ... are refused as ambiguous. Fractions round down to whole bytes. Errors name the text and
// what is wrong with it; sizes of 2^64 bytes and more are refused. Pure.
Result<std::uint64_t> parse_size(std::string_view text);

// Adds `--name SIZE` to `cmd`, parsed with parse_size into `out` (a parse error is a CLI11
// validation error naming the option).
CLI::Option* add_size_option(CLI::App& cmd, const std::string& name, std::uint64_t& out,
                             const std::string& description);

}  // namespace torfs::tools
