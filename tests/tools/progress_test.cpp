#include "tools/progress.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace torfs::tools {
namespace {

TEST(FormatBytes, BinaryUnitsWithThreeSignificantDigits) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(430ull << 20), "430 MiB");
  EXPECT_EQ(format_bytes(1ull << 30), "1.00 GiB");
}

TEST(FormatDuration, MinutesHoursAndNonsense) {
  EXPECT_EQ(format_duration(7), "0:07");
  EXPECT_EQ(format_duration(12 * 60 + 34), "12:34");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
}

std::string read_all(std::FILE* f) {
  std::string text;
  std::rewind(f);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f))
    text.append(buf, n);
  return text;
}

TEST(Progress, PlainModeEndsWithTheFinalState) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress::Options options;
    options.label = "hashing";
    options.out = out;
    options.terminal = false;
    Progress p(1000, options);
    p.update(500, "2 peers");
    p.finish("done");
  }
  const std::string text = read_all(out);
  std::fclose(out);
  EXPECT_NE(text.find("hashing"), std::string::npos) << text;
  EXPECT_NE(text.find("100"), std::string::npos) << text;
  EXPECT_NE(text.find("done"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << "plain mode must not redraw lines";
  EXPECT_EQ(text.back(), '\n');
}

// A quick run in plain mode prints a final line only when there is something to say.
TEST(Progress, CountUnitNamesItsItems) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    Progress::Options options;
    options.label = "checking";
    options.unit = Progress::Unit::count;
    options.count_name = "pieces";
    options.out = out;
    options.terminal = false;
    Progress p(40, options);
    p.update(40);
    p.finish("verified");
  }
  const std::string text = read_all(out);
  std::fclose(out);
  EXPECT_NE(text.find("pieces"), std::string::npos) << text;
  EXPECT_NE(text.find("40"), std::string::npos) << text;
}

}  // namespace
}  // namespace torfs::tools
