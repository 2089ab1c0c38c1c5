#include "tools/mount_helper.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace torfs::tools {
namespace {

using Args = std::vector<std::string>;

// The shape of `torfs mount`'s options, as helper_options_of() reports them.
const std::vector<HelperOption> kOptions = {
    {"foreground", false}, {"data-dir", true},     {"state-db", true},   {"listen", true},
    {"peer", true},        {"read-timeout", true}, {"on-demand", false}, {"no-trackers", false},
    {"cache-size", true},  {"log", true},          {"no-dht", false},    {"config", true}};

Args translate(const Args& args) {
  auto r = translate_mount_helper(args, kOptions);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r ? r->torfs_args : Args{};
}

std::string error_of(const Args& args) {
  auto r = translate_mount_helper(args, kOptions);
  EXPECT_FALSE(r.ok());
  return r ? std::string() : r.error().message;
}

TEST(MountHelper, RecognisesItsNames) {
  EXPECT_TRUE(is_mount_helper_name("/sbin/mount.fuse.torfs"));
  EXPECT_TRUE(is_mount_helper_name("mount.torfs"));
  EXPECT_TRUE(is_mount_helper_name("/usr/local/sbin/mount.torfs"));
  EXPECT_FALSE(is_mount_helper_name("torfs"));
  EXPECT_FALSE(is_mount_helper_name("/sbin/mount.fuse"));
  EXPECT_FALSE(is_mount_helper_name("/opt/mount.torfs/torfs"));
}

TEST(MountHelper, TorfsOptionsBecomeFlagsAndFuseOptionsOneDashO) {
  EXPECT_EQ(translate({"/t/x.torrent", "/mnt/x", "-o",
                       "rw,data_dir=/srv/d,on_demand,peer=127.0.0.2:6881,allow_other,"
                       "peer=127.0.0.3:6881,read_timeout=30,nosuid,max_read=131072"}),
            (Args{"mount", "/t/x.torrent", "/mnt/x", "--data-dir", "/srv/d", "--on-demand",
                  "--peer", "127.0.0.2:6881", "--peer", "127.0.0.3:6881", "--read-timeout", "30",
                  "-o", "allow_other,nosuid,max_read=131072"}));
}

TEST(MountHelper, DashedNamesWorkToo) {
  EXPECT_EQ(translate({"s", "d", "-o", "data-dir=/x,no-trackers"}),
            (Args{"mount", "s", "d", "--data-dir", "/x", "--no-trackers"}));
}

TEST(MountHelper, FstabBookkeepingIsDropped) {
  EXPECT_EQ(translate({"s", "d", "-o",
                       "defaults,ro,rw,auto,noauto,user,user=alice,users,nouser,owner,group,"
                       "_netdev,nofail,x-systemd.automount,X-mount.mkdir,comment=systemd.x"}),
            (Args{"mount", "s", "d"}));
}

TEST(MountHelper, OptionListsMayRepeatAndQuotesProtectCommas) {
  EXPECT_EQ(translate({"s", "d", "-o", "log=\"/var/log/a,b.log\"", "-ocache_size=1G"}),
            (Args{"mount", "s", "d", "--log", "/var/log/a,b.log", "--cache-size", "1G"}));
  EXPECT_NE(error_of({"s", "d", "-o", "log=\"/x"}).find("unbalanced"), std::string::npos);
}

TEST(MountHelper, UtilLinuxFlags) {
  auto r = translate_mount_helper({"s", "d", "-s", "-f", "-n", "-v", "-o", "nonsense,on_demand",
                                   "-t", "fuse.torfs", "-N", "/proc/1/fd/3"},
                                  kOptions);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->fake);
  EXPECT_TRUE(r->verbose);
  EXPECT_EQ(r->mount_namespace, "/proc/1/fd/3");
  EXPECT_EQ(r->torfs_args, (Args{"mount", "s", "d", "--on-demand"}));
  ASSERT_EQ(r->warnings.size(), 1u);  // sloppy: the unknown option is ignored, with a warning
  EXPECT_NE(r->warnings[0].find("nonsense"), std::string::npos);

  auto bundled = translate_mount_helper({"s", "d", "-fv"}, kOptions);
  ASSERT_TRUE(bundled.ok());
  EXPECT_TRUE(bundled->fake && bundled->verbose);
}

TEST(MountHelper, ErrorsNameTheBadOption) {
  EXPECT_NE(error_of({"s", "d", "-o", "allow_other,data_dri=/x"}).find("'data_dri=/x'"),
            std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-o", "data_dir"}).find("'data_dir' needs a value"),
            std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-o", "on_demand=yes"}).find("'on_demand' is a flag"),
            std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-o", "foreground"}).find("foreground"), std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-o", "=x"}).find("no name"), std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-t", "ext4"}).find("'ext4'"), std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-x"}).find("-x"), std::string::npos);
  EXPECT_NE(error_of({"s", "d", "-o"}).find("-o needs a value"), std::string::npos);
  EXPECT_NE(error_of({"s"}).find("SOURCE and MOUNTPOINT"), std::string::npos);
  EXPECT_NE(error_of({"s", "d", "e"}).find("got 3"), std::string::npos);
}

TEST(MountHelper, OptionsOfARealCommand) {
  CLI::App app;
  std::string dir;
  bool flag = false;
  std::vector<std::string> peers;
  std::string source;
  app.add_option("source", source);
  app.add_option("--data-dir", dir);
  app.add_flag("-f,--on-demand", flag);
  app.add_option("--peer", peers);
  const auto opts = helper_options_of(app);
  ASSERT_EQ(opts.size(), 3u);  // no help, no positional
  EXPECT_EQ(opts[0].name, "data-dir");
  EXPECT_TRUE(opts[0].takes_value);
  EXPECT_EQ(opts[1].name, "on-demand");
  EXPECT_FALSE(opts[1].takes_value);
  EXPECT_EQ(opts[2].name, "peer");
  EXPECT_TRUE(opts[2].takes_value);
}

TEST(MountHelper, ShellQuote) {
  EXPECT_EQ(shell_quote({"torfs", "mount", "/a b/x.torrent", "it's", "-o", "allow_other"}),
            "torfs mount '/a b/x.torrent' 'it'\\''s' -o allow_other");
  EXPECT_EQ(shell_quote({""}), "''");
}

}  // namespace
}  // namespace torfs::tools
