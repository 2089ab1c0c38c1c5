// Command registry and helpers shared by the subcommands (see command.hpp).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "tools/command.hpp"

namespace torfs::tools {
std::vector<std::pair<int, CommandSetup>>& registry() {
  static std::vector<std::pair<int, CommandSetup>> commands;
  return commands;
}

CommandRegistration::CommandRegistration(int order, CommandSetup setup) {
  registry().emplace_back(order, setup);
}

void fail(const std::string& message, int exit_code) {
  std::fprintf(stderr, "torfs: %s\n", message.c_str());
  throw CLI::RuntimeError(exit_code);
}

std::function<void(LogLevel, std::string_view)> stderr_log(bool verbose) {
  const auto start = std::chrono::steady_clock::now();
  return [verbose, start](LogLevel level, std::string_view line) {
    if (level == LogLevel::debug && !verbose) return;
    static const char* names[] = {"debug", "info", "warning", "error"};
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "torfs: [%7.3f] %s: %.*s\n", t, names[static_cast<int>(level)],
                 static_cast<int>(line.size()), line.data());
  };
}

bool progress_on_terminal() {
  return isatty(STDERR_FILENO) && !std::getenv("TORFS_NO_PROGRESS");
}

}  // namespace torfs::tools
