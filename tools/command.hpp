// Subcommand registry: each tools/cmd_*.cpp registers itself with a static CommandRegistration,
// so commands are added without touching main.cpp. Sources are linked straight into the
// executable (not a static library), so the registrations are never dropped by the linker.
//
// A command's callback reports failure by throwing CLI::RuntimeError(exit_code) after printing
// a clear message to stderr; success is returning normally.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/session.hpp"

namespace torfs::tools {

using CommandSetup = void (*)(CLI::App& app);

struct CommandRegistration {
  // `order` sorts commands in --help (info 10, create 20, verify 30, download 40, seed 50,
  // mount 60, status 70).
  CommandRegistration(int order, CommandSetup setup);
};

// Every registered command with its order (main() sorts and adds them).
std::vector<std::pair<int, CommandSetup>>& registry();

// Prints "torfs: <message>" to stderr and throws CLI::RuntimeError(exit_code).
[[noreturn]] void fail(const std::string& message, int exit_code = 1);

// Engine log sink for foreground commands: "torfs: [  1.234] level: text" on stderr, time
// since start; debug lines only when verbose.
std::function<void(LogLevel, std::string_view)> stderr_log(bool verbose);

// True when stderr is a terminal (progress bars) and not disabled by TORFS_NO_PROGRESS.
bool progress_on_terminal();

}  // namespace torfs::tools
