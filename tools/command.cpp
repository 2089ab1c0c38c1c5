// Command registry and helpers shared by the subcommands (see command.hpp).
#include <unistd.h>

#include <algorithm>
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

bool progress_on_terminal() {
  return isatty(STDERR_FILENO) && !std::getenv("TORFS_NO_PROGRESS");
}

}  // namespace torfs::tools
