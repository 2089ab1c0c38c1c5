// torfs: mount torrents as a filesystem. Subcommands live in tools/cmd_*.cpp.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "tools/command.hpp"
#include "tools/config_file.hpp"
#include "tools/mount_helper.hpp"

namespace {
// Data files stay open for the life of a torrent (their fds back FUSE splice replies), so a
// torrent with thousands of files needs more than the usual soft limit of 1024.
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}
}  // namespace

int main(int argc, char** argv) {
  raise_fd_limit();
  CLI::App app{"torfs: mount a torrent as a read-only filesystem while it downloads"};
  app.set_version_flag("--version", std::string("torfs ") + TORFS_VERSION);
  app.require_subcommand(1);
  torfs::tools::add_config_file_support(app);
  auto& commands = torfs::tools::registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, setup] : commands)
    setup(app);
  // Run by mount(8) as /sbin/mount.fuse.torfs: translate its argv into `torfs mount ...`.
  std::vector<std::string> args(argv, argv + argc);
  if (args.empty()) args.push_back("torfs");
  if (argc > 0 && torfs::tools::is_mount_helper_name(argv[0])) {
    auto helper = torfs::tools::prepare_mount_helper(app, argc, argv);
    if (const int* status = std::get_if<int>(&helper)) return *status;
    args = std::move(std::get<std::vector<std::string>>(helper));
  }
  std::vector<const char*> arg_ptrs;
  for (const auto& a : args)
    arg_ptrs.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  } catch (const CLI::ParseError& e) {
    // Help, --version and command failures (RuntimeError) keep their own codes; any other
    // parse error is a usage error: exit status 2, as in most Unix tools.
    const int code = app.exit(e);
    const bool usage_error = code != 0 && dynamic_cast<const CLI::RuntimeError*>(&e) == nullptr;
    return usage_error ? 2 : code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torfs: %s\n", e.what());
    return 1;
  }
  return 0;
}
