// torfs man [-o FILE]: prints (or writes) the torfs(1) man page, troff generated from this very
// CLI. Hidden from --help; every build of torfs runs it to make torfs.1 (tools/CMakeLists.txt).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "tools/command.hpp"
#include "tools/man_page.hpp"

namespace torfs::tools {
namespace {

// Writes `text` to `path` through a temporary file renamed into place, so an interrupted
// build never leaves half a page behind.
void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot create " + tmp + ": " + std::strerror(errno), 1);
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !written) {
    std::remove(tmp.c_str());
    fail("cannot write " + tmp, 1);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename " + tmp + " to " + path + ": " + ec.message(), 1);
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("man", "Print the torfs(1) man page (troff)");
  cmd->group("");  // hidden: a tool of the build, not of users
  auto output = std::make_shared<std::string>();
  cmd->add_option("-o,--output", *output, "Write the page to this file instead of stdout");
  CLI::App* root = &app;
  cmd->callback([root, output] {
    const std::string page = render_man_page(*root, TORFS_VERSION);
    if (!output->empty()) return write_file(*output, page);
    if (std::fwrite(page.data(), 1, page.size(), stdout) != page.size() ||
        std::fflush(stdout) != 0) {
      fail("cannot write the man page to stdout", 1);
    }
  });
}

const CommandRegistration reg(900, setup);

}  // namespace
}  // namespace torfs::tools
