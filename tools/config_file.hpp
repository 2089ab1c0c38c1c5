// The config file: defaults for the options of every command, in TOML (config_toml.hpp).
//
//   # ~/.config/torfs/config.toml
//   max-upload-rate = 2048          # top level: every command that has --max-upload-rate
//   [mount]
//   data_dir = "/srv/torfs"         # `_` and `-` are the same in keys
//   peer = ["10.0.0.2:6881", "10.0.0.3:6881"]
//   on-demand = true
//
// Where: `--config FILE` (anywhere on the command line), else
// $XDG_CONFIG_HOME/torfs/config.toml, else ~/.config/torfs/config.toml. A missing default file
// is fine; a missing --config file is an error. The command line wins: an option given there
// ignores the file's value (a repeatable option takes the command line's list, not both).
// The whole file is checked on every run, so a typo in any section is reported at once:
// unknown sections and keys, positional arguments, help flags, flags set to non-booleans and
// values the option rejects are errors naming the file, the line and the key.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "cache/result.hpp"
#include "tools/config_toml.hpp"

namespace torfs::tools {

// $XDG_CONFIG_HOME/torfs/config.toml (an absolute XDG_CONFIG_HOME only), else
// $HOME/.config/torfs/config.toml; empty when neither variable is usable.
std::filesystem::path default_config_path();

// Reads and parses `path` (at most kMaxConfigBytes). Errors name the file.
Result<ConfigDocument> load_config_file(const std::filesystem::path& path);

// Checks every entry of `doc` against the commands of `app`, then sets the options of the
// invoked (parsed) subcommands that the command line left unset, running their conversions
// and checks. `file` names the file in messages ("FILE:LINE: ..."). Call after parsing and
// before the command callbacks run.
Result<void> apply_config(CLI::App& app, const ConfigDocument& doc, const std::string& file);

// Adds `--config FILE` to the root `app` and makes the app apply the config file after parsing
// the command line and before any command runs (errors: "torfs: ..." and exit status 2).
// Sets fallthrough so --config also works after the subcommand; call before adding the
// subcommands. Hidden commands (e.g. `man`) do not read the file.
void add_config_file_support(CLI::App& app);

}  // namespace torfs::tools
