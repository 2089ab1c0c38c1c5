// torfs(1) generated from the CLI itself: the same App that parses the command line is walked
// for its commands, options, descriptions, defaults and footers, so the page cannot drift from
// `--help`. Built into the build tree as torfs.1 (`torfs man`) and installed to man1.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

namespace torfs::tools {

// The man page (troff, man macros) for the root `app`; hidden commands are left out.
std::string render_man_page(const CLI::App& app, std::string_view version);

// `text` made safe as troff input: backslashes and hyphens escaped, lines that would start with
// a control character ('.' or '\'') protected.
std::string troff_escape(std::string_view text);

}  // namespace torfs::tools
