#include "tools/size_option.hpp"

#include <gtest/gtest.h>

namespace torfs::tools {
namespace {

std::uint64_t ok(std::string_view text) {
  auto r = parse_size(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r ? "" : r.error().message);
  return r ? *r : ~0ull;
}

std::string error(std::string_view text) {
  auto r = parse_size(text);
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r ? *r : 0);
  return r ? "" : r.error().message;
}

TEST(ParseSize, PlainNumbersAndBinarySuffixes) {
  EXPECT_EQ(ok("0"), 0u);
  EXPECT_EQ(ok("4096"), 4096u);
  EXPECT_EQ(ok("4096B"), 4096u);
  EXPECT_EQ(ok("512K"), 512u << 10);
  EXPECT_EQ(ok("512k"), 512u << 10);
  EXPECT_EQ(ok("8M"), 8u << 20);
  EXPECT_EQ(ok("8MiB"), 8u << 20);
  EXPECT_EQ(ok("3G"), 3ull << 30);
  EXPECT_EQ(ok("3GiB"), 3ull << 30);
  EXPECT_EQ(ok("2T"), 2ull << 40);
  EXPECT_EQ(ok("2TiB"), 2ull << 40);
  EXPECT_EQ(ok("1KiB"), 1024u);
}

TEST(ParseSize, FractionsRoundDown) {
  EXPECT_EQ(ok("1.5G"), 3ull << 29);
  EXPECT_EQ(ok("0.5K"), 512u);
  EXPECT_EQ(ok("1.0001K"), 1024u);  // 1024.1024 bytes
  EXPECT_EQ(ok("2.25MiB"), 9ull << 18);
}

TEST(ParseSize, RefusesNonsenseAndAmbiguousUnits) {
  EXPECT_NE(error("").find("must start with a number"), std::string::npos);
  EXPECT_NE(error("M").find("must start with a number"), std::string::npos);
  EXPECT_NE(error("-5M").find("'-5M'"), std::string::npos);
  EXPECT_NE(error("8MB").find("unknown unit 'MB'"), std::string::npos);
  EXPECT_NE(error("8X").find("unknown unit"), std::string::npos);
  EXPECT_NE(error("8 M").find("unknown unit ' M'"), std::string::npos);
  EXPECT_NE(error("1.G").find("no digits after the decimal point"), std::string::npos);
  EXPECT_NE(error("8Mi").find("unknown unit"), std::string::npos);
}

TEST(ParseSize, RefusesSizesOf2To64AndMore) {
  EXPECT_EQ(ok("18446744073709551615"), ~0ull);
  EXPECT_NE(error("18446744073709551616").find("too large"), std::string::npos);
  EXPECT_EQ(ok("16777215T"), 16777215ull << 40);
  EXPECT_NE(error("16777216T").find("too large"), std::string::npos);
  EXPECT_EQ(ok("16777215.5T"), (16777215ull << 40) + (1ull << 39));  // just under 2^64
}

TEST(AddSizeOption, ParsesIntoTheTargetAndReportsTheOption) {
  CLI::App app("test");
  std::uint64_t size = 7;
  add_size_option(app, "--cache-size", size, "cap");
  app.parse(std::vector<std::string>{"64M", "--cache-size"});  // CLI11 wants reversed args
  EXPECT_EQ(size, 64u << 20);
  CLI::App bad("test");
  add_size_option(bad, "--cache-size", size, "cap");
  try {
    bad.parse(std::vector<std::string>{"lots", "--cache-size"});
    ADD_FAILURE() << "'lots' was accepted";
  } catch (const CLI::ValidationError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid size 'lots'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace torfs::tools
