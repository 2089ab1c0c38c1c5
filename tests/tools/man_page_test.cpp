#include "tools/man_page.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tools/command.hpp"
#include "tools/config_file.hpp"

namespace torfs::tools {
namespace {

// The real torfs CLI, built as main() builds it.
struct RealCli {
  CLI::App app{"torfs: mount a torrent as a read-only filesystem while it downloads"};
  RealCli() {
    app.require_subcommand(1);
    add_config_file_support(app);
    auto commands = registry();
    std::stable_sort(commands.begin(), commands.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [order, setup] : commands)
      setup(app);
  }
};

TEST(TroffEscape, HyphensBackslashesAndControlLines) {
  EXPECT_EQ(troff_escape("--data-dir"), "\\-\\-data\\-dir");
  EXPECT_EQ(troff_escape("a\\b"), "a\\eb");
  EXPECT_EQ(troff_escape(".hidden\n'quote\nx.y"), "\\&.hidden\n\\&'quote\nx.y");
}

TEST(ManPage, MentionsEveryCommandAndEveryMountOption) {
  RealCli cli;
  const std::string page = render_man_page(cli.app, "9.9.9");
  EXPECT_EQ(page.rfind(".TH TORFS 1", 0), 0u);
  EXPECT_NE(page.find("torfs 9.9.9"), std::string::npos);
  int commands = 0;
  for (const CLI::App* cmd : cli.app.get_subcommands([](const CLI::App*) { return true; })) {
    const bool hidden = cmd->get_group().empty();
    EXPECT_EQ(page.find(".SS \"torfs " + cmd->get_name() + " ") != std::string::npos, !hidden)
        << cmd->get_name();
    commands += hidden ? 0 : 1;
  }
  EXPECT_GE(commands, 6);
  const CLI::App* mount = cli.app.get_subcommand("mount");
  const std::size_t mount_at = page.find(".SS \"torfs mount ");
  ASSERT_NE(mount_at, std::string::npos);
  const std::size_t mount_end = page.find(".SS", mount_at + 1);
  const std::string section = page.substr(mount_at, mount_end - mount_at);
  int options = 0;
  for (const CLI::Option* opt : mount->get_options()) {
    if (opt == mount->get_help_ptr()) continue;  // said once, under GLOBAL OPTIONS
    for (const auto& l : opt->get_lnames()) {
      EXPECT_NE(section.find("\\fB" + troff_escape("--" + l) + "\\fR"), std::string::npos) << l;
      ++options;
    }
    if (!opt->get_description().empty()) {
      EXPECT_NE(section.find(troff_escape(opt->get_description())), std::string::npos)
          << opt->get_description();
    }
  }
  EXPECT_GE(options, 10);
  EXPECT_NE(page.find(troff_escape("--config")), std::string::npos);
}

// groff (groff-base, installed with man-db) must format the page without a single warning.
TEST(ManPage, GroffFormatsItWithoutWarnings) {
  if (std::system("command -v groff >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "groff is not installed";
  }
  RealCli cli;
  const auto dir = std::filesystem::temp_directory_path();
  const auto page = dir / ("torfs-man-test-" + std::to_string(::getpid()) + ".1");
  const auto log = dir / ("torfs-man-test-" + std::to_string(::getpid()) + ".log");
  std::ofstream(page) << render_man_page(cli.app, "1.0");
  const std::string cmd = "groff -man -Tutf8 -ww -z " + page.string() + " 2>" + log.string();
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  const std::string warnings((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(page);
  std::filesystem::remove(log);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(warnings, "");
}

}  // namespace
}  // namespace torfs::tools
