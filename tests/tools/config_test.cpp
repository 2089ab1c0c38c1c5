#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/config_file.hpp"
#include "tools/config_toml.hpp"

namespace torfs::tools {
namespace {

using Kind = ConfigValue::Kind;

ConfigDocument parse_ok(std::string_view text) {
  auto r = parse_config_toml(text, "c.toml");
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r ? *r : ConfigDocument{};
}

std::string parse_error(std::string_view text) {
  auto r = parse_config_toml(text, "c.toml");
  EXPECT_FALSE(r.ok()) << "parsed: " << text;
  return r ? std::string() : r.error().message;
}

TEST(ConfigToml, SectionsScalarsAndArrays) {
  const auto doc = parse_ok(
      "# defaults\n"
      "max-upload-rate = 2_048   # KiB/s\n"
      "\n"
      "[mount]\r\n"
      "data_dir = \"/srv/t\\u00e9 \\\"x\\\"\"\n"
      "'log' = 'C:\\raw'\n"
      "peer = [\n"
      "  \"10.0.0.2:6881\",  # first\n"
      "  '10.0.0.3:6881',\n"
      "]\n"
      "on-demand = true\n"
      "read-timeout = 2.5e1\n"
      "[ seed ]\n"
      "empty = []\n");
  ASSERT_EQ(doc.entries.size(), 7u);
  EXPECT_EQ(doc.sections, (std::vector<std::string>{"mount", "seed"}));
  EXPECT_EQ(doc.section_lines, (std::vector<int>{4, 13}));
  const auto& rate = doc.entries[0];
  EXPECT_EQ(rate.section, "");
  EXPECT_EQ(rate.key, "max-upload-rate");
  EXPECT_EQ(rate.values[0].kind, Kind::integer);
  EXPECT_EQ(rate.values[0].text, "2048");
  EXPECT_EQ(rate.line, 2);
  EXPECT_EQ(doc.entries[1].section, "mount");
  EXPECT_EQ(doc.entries[1].values[0].text, "/srv/t\xc3\xa9 \"x\"");
  EXPECT_EQ(doc.entries[2].key, "log");
  EXPECT_EQ(doc.entries[2].values[0].text, "C:\\raw");
  EXPECT_TRUE(doc.entries[3].is_array);
  ASSERT_EQ(doc.entries[3].values.size(), 2u);
  EXPECT_EQ(doc.entries[3].values[1].text, "10.0.0.3:6881");
  EXPECT_EQ(doc.entries[4].values[0].kind, Kind::boolean);
  EXPECT_EQ(doc.entries[4].line, 11);
  EXPECT_EQ(doc.entries[5].values[0].kind, Kind::floating);
  EXPECT_EQ(doc.entries[6].section, "seed");
  EXPECT_TRUE(doc.entries[6].is_array);
  EXPECT_TRUE(doc.entries[6].values.empty());
}

TEST(ConfigToml, EmptyAndCommentOnly) {
  EXPECT_TRUE(parse_ok("").entries.empty());
  EXPECT_TRUE(parse_ok("# nothing\n\n   \n").entries.empty());
}

TEST(ConfigToml, ErrorsNameFileLineAndProblem) {
  EXPECT_EQ(parse_error("a = 1\nb 2\n"), "c.toml:2: expected '=' after key 'b'");
  EXPECT_EQ(parse_error("\n\nlog = \"/x\n"), "c.toml:3: string is not closed on its line");
  EXPECT_EQ(parse_error("log = /var/log/x\n"),
            "c.toml:1: invalid value '/var/log/x' for log (strings need quotes)");
  EXPECT_EQ(parse_error("a = 1\n[m]\na = 2\nx = 1\nx = 3\n"),
            "c.toml:5: key 'x' is set twice (first on line 4)");
  EXPECT_EQ(parse_error("[m]\n[m]\n"), "c.toml:2: section [m] appears twice (first on line 1)");
  EXPECT_EQ(parse_error("a = 1 2\n"), "c.toml:1: unexpected '2' after the value");
  EXPECT_EQ(parse_error("a = \"x\\q\"\n"), "c.toml:1: unknown escape '\\q'");
  EXPECT_EQ(parse_error("a =\n"), "c.toml:1: missing value for a");
  EXPECT_EQ(parse_error("a = [1,\n2\n"), "c.toml:3: array opened on line 1 is never closed");
  EXPECT_EQ(parse_error("[mount\n"), "c.toml:1: expected ']' after section name 'mount'");
}

TEST(ConfigToml, UnsupportedTomlIsRefusedNotMisread) {
  EXPECT_NE(parse_error("a.b = 1\n").find("dotted"), std::string::npos);
  EXPECT_NE(parse_error("[a.b]\n").find("dotted"), std::string::npos);
  EXPECT_NE(parse_error("[[a]]\n").find("arrays of tables"), std::string::npos);
  EXPECT_NE(parse_error("a = {b = 1}\n").find("inline tables"), std::string::npos);
  EXPECT_NE(parse_error("a = [[1]]\n").find("nested arrays"), std::string::npos);
  EXPECT_NE(parse_error("a = \"\"\"x\"\"\"\n").find("multi-line"), std::string::npos);
  EXPECT_NE(parse_error("a = 1979-05-27\n").find("invalid value"), std::string::npos);
  EXPECT_NE(parse_error("a = 0x10\n").find("invalid value"), std::string::npos);
  EXPECT_NE(parse_error("a = 1__0\n").find("invalid value"), std::string::npos);
  EXPECT_NE(parse_error("a = \"\\uD800\"\n").find("Unicode"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kMaxConfigBytes + 1, '#')).find("larger than"),
            std::string::npos);
}

// A small CLI shaped like torfs's: two commands sharing --peer, flags, a checked number.
struct TestCli {
  CLI::App app{"test"};
  std::string data_dir = "default-dir";
  std::vector<std::string> peers, seed_peers;
  bool on_demand = false;
  double timeout = 60;
  std::string source, torrent;
  bool mount_ran = false;

  TestCli() {
    app.require_subcommand(1);
    auto* mount = app.add_subcommand("mount", "mount");
    mount->add_option("source", source);
    mount->add_option("--data-dir", data_dir);
    mount->add_option("--peer", peers);
    mount->add_flag("--on-demand", on_demand);
    mount->add_option("--read-timeout", timeout)->check(CLI::PositiveNumber);
    mount->callback([this] { mount_ran = true; });
    auto* seed = app.add_subcommand("seed", "seed");
    seed->add_option("torrent", torrent);
    seed->add_option("--peer", seed_peers);
  }

  // Parses `args` (without argv[0]) and applies `config`; returns the error message or "".
  std::string run(std::vector<std::string> args, std::string_view config) {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
    auto doc = parse_config_toml(config, "c.toml");
    if (!doc) return doc.error().message;
    auto r = apply_config(app, *doc, "c.toml");
    return r ? std::string() : r.error().message;
  }
};

TEST(ConfigApply, DefaultsAppliedToTheInvokedCommand) {
  TestCli cli;
  EXPECT_EQ(cli.run({"mount", "x.torrent"},
                    "peer = [\"p1:1\", \"p2:2\"]\n[mount]\ndata_dir = \"/srv\"\non_demand = "
                    "true\nread-timeout = 5\n[seed]\npeer = \"s:1\"\n"),
            "");
  EXPECT_EQ(cli.data_dir, "/srv");
  EXPECT_EQ(cli.peers, (std::vector<std::string>{"p1:1", "p2:2"}));
  EXPECT_TRUE(cli.on_demand);
  EXPECT_EQ(cli.timeout, 5);
  EXPECT_TRUE(cli.seed_peers.empty());  // [seed] is for `seed` only
}

TEST(ConfigApply, CommandLineWins) {
  TestCli cli;
  EXPECT_EQ(cli.run({"mount", "x", "--data-dir", "/cli", "--peer", "c:1"},
                    "[mount]\ndata-dir = \"/file\"\npeer = [\"f:1\", \"f:2\"]\n"),
            "");
  EXPECT_EQ(cli.data_dir, "/cli");
  EXPECT_EQ(cli.peers, (std::vector<std::string>{"c:1"}));  // the list is replaced, not merged
}

TEST(ConfigApply, FalseFlagLeavesTheDefault) {
  TestCli cli;
  EXPECT_EQ(cli.run({"mount", "x"}, "[mount]\non-demand = false\n"), "");
  EXPECT_FALSE(cli.on_demand);
}

TEST(ConfigApply, UnknownKeysAndSectionsAreErrors) {
  EXPECT_EQ(TestCli().run({"mount", "x"}, "[mount]\n\ndata-dri = \"/x\"\n"),
            "c.toml:3: unknown option 'data-dri' in [mount] (torfs mount has no --data-dri)");
  EXPECT_EQ(TestCli().run({"mount", "x"}, "bogus = 1\n"),
            "c.toml:1: unknown option 'bogus' (no command has --bogus)");
  EXPECT_EQ(TestCli().run({"mount", "x"}, "[mont]\n"),
            "c.toml:1: unknown section [mont] (commands: mount, seed)");
  // Typos in a command that is not running are reported too.
  EXPECT_EQ(TestCli().run({"mount", "x"}, "[seed]\npeers = []\n"),
            "c.toml:2: unknown option 'peers' in [seed] (torfs seed has no --peers)");
  // Positional arguments are not options.
  EXPECT_NE(TestCli().run({"mount", "x"}, "[mount]\nsource = \"y\"\n").find("unknown option"),
            std::string::npos);
  EXPECT_NE(TestCli().run({"mount", "x"}, "[mount]\nhelp = true\n").find("cannot be set"),
            std::string::npos);
}

TEST(ConfigApply, BadValuesAreErrorsNamingTheLine) {
  EXPECT_NE(TestCli().run({"mount", "x"}, "[mount]\non-demand = 1\n").find("c.toml:2:"),
            std::string::npos);
  EXPECT_NE(TestCli().run({"mount", "x"}, "[mount]\non-demand = 1\n").find("true or false"),
            std::string::npos);
  EXPECT_NE(TestCli().run({"mount", "x"}, "[mount]\ndata-dir = [\"a\", \"b\"]\n").find("one value"),
            std::string::npos);
  const std::string bad = TestCli().run({"mount", "x"}, "\n[mount]\nread-timeout = -3\n");
  EXPECT_EQ(bad.rfind("c.toml:3: 'read-timeout' in [mount]: ", 0), 0u) << bad;
  const std::string nan = TestCli().run({"mount", "x"}, "[mount]\nread-timeout = \"soon\"\n");
  EXPECT_EQ(nan.rfind("c.toml:2: ", 0), 0u) << nan;
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("torfs-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "torfs");
    if (const char* old = std::getenv("XDG_CONFIG_HOME")) old_ = old;
    ::setenv("XDG_CONFIG_HOME", dir_.c_str(), 1);
  }
  void TearDown() override {
    if (old_) {
      ::setenv("XDG_CONFIG_HOME", old_->c_str(), 1);
    } else {
      ::unsetenv("XDG_CONFIG_HOME");
    }
    std::filesystem::remove_all(dir_);
  }
  void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

  // Builds the CLI with config support and parses `args` (argv[0] included).
  int parse(TestCli& cli, std::vector<const char*> args) {
    try {
      cli.app.parse(static_cast<int>(args.size()), args.data());
    } catch (const CLI::ParseError& e) {
      return e.get_exit_code();
    }
    return 0;
  }

  std::filesystem::path dir_;
  std::optional<std::string> old_;
};

TEST_F(ConfigFileTest, DefaultPathFollowsXdgConfigHome) {
  EXPECT_EQ(default_config_path(), dir_ / "torfs" / "config.toml");
}

TEST_F(ConfigFileTest, DefaultFileIsReadWhenPresentAndMissingIsFine) {
  {
    auto cli = std::make_unique<TestCli>();
    add_config_file_support(cli->app);
    EXPECT_EQ(parse(*cli, {"t", "mount", "x"}), 0);  // no file: nothing happens
    EXPECT_TRUE(cli->mount_ran);
    EXPECT_EQ(cli->data_dir, "default-dir");
  }
  write(dir_ / "torfs" / "config.toml", "[mount]\ndata-dir = \"/from-file\"\n");
  TestCli cli;
  add_config_file_support(cli.app);
  EXPECT_EQ(parse(cli, {"t", "mount", "x"}), 0);
  EXPECT_EQ(cli.data_dir, "/from-file");
  EXPECT_TRUE(cli.mount_ran);
}

TEST_F(ConfigFileTest, ExplicitConfigAnywhereOnTheLineAndMissingOneIsAnError) {
  const auto other = dir_ / "other.toml";
  write(other, "[mount]\ndata-dir = \"/other\"\n");
  {
    TestCli cli;
    add_config_file_support(cli.app);  // set up before the commands in main(); here after
    cli.app.get_subcommand("mount")->fallthrough();
    EXPECT_EQ(parse(cli, {"t", "mount", "x", "--config", other.c_str()}), 0);
    EXPECT_EQ(cli.data_dir, "/other");
  }
  TestCli cli;
  add_config_file_support(cli.app);
  const std::string missing = (dir_ / "nope.toml").string();
  EXPECT_EQ(parse(cli, {"t", "--config", missing.c_str(), "mount", "x"}), 2);
  EXPECT_FALSE(cli.mount_ran);
}

TEST_F(ConfigFileTest, BrokenFileStopsTheCommandBeforeItRuns) {
  write(dir_ / "torfs" / "config.toml", "[mount]\ndata-dir = /x\n");
  TestCli cli;
  add_config_file_support(cli.app);
  EXPECT_EQ(parse(cli, {"t", "mount", "x"}), 2);
  EXPECT_FALSE(cli.mount_ran);
}

}  // namespace
}  // namespace torfs::tools
