#include "engine/path_sanitizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace torfs {
namespace {

using namespace std::string_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Sanitizes one multi-file torrent's paths below root "t".
struct Outcome {
  std::vector<std::string> paths;
  std::vector<std::string> warnings;
};
Outcome sanitize(const std::vector<std::vector<std::string_view>>& files,
                 const std::vector<bool>& pads = {}) {
  std::vector<PathInput> inputs;
  for (std::size_t i = 0; i < files.size(); ++i) {
    inputs.push_back({files[i], i < pads.size() && pads[i]});
  }
  Outcome out;
  out.paths = sanitize_file_paths("t", inputs, out.warnings);
  return out;
}

TEST(PathSanitizer, CleanPathsPassUnchangedWithoutWarnings) {
  auto out =
      sanitize({{"a", "b.txt"}, {"A", "b.txt"}, {"c d", "CON", "x:y?*|<>\"", "...", ".hidden"}});
  EXPECT_THAT(out.paths, ElementsAre("t/a/b.txt", "t/A/b.txt", "t/c d/CON/x:y?*|<>\"/.../.hidden"));
  EXPECT_THAT(out.warnings, IsEmpty());
}

TEST(PathSanitizer, DotDotAndDotAndEmptyElementsAreDropped) {
  auto out = sanitize({{"..", "..", "etc", "passwd"}, {"a", ".", "", "b"}, {"", "abs"}});
  EXPECT_THAT(out.paths, ElementsAre("t/etc/passwd", "t/a/b", "t/abs"));
  EXPECT_THAT(out.warnings,
              ElementsAre("file 0: path '../../etc/passwd' became 't/etc/passwd' (dropped a "
                          "'..' element; dropped a '..' element)",
                          "file 1: path 'a/.//b' became 't/a/b' (dropped a '.' element; dropped "
                          "an empty element)",
                          "file 2: path '/abs' became 't/abs' (dropped an empty element)"));
}

TEST(PathSanitizer, APathWithNothingLeftIsNamedUnderscore) {
  auto out = sanitize({{"..", "."}, {}});
  EXPECT_THAT(out.paths, ElementsAre("t/_", "t/_.1"));
  ASSERT_EQ(3u, out.warnings.size());
  EXPECT_EQ(
      "file 0: path '../.' became 't/_' (dropped a '..' element; dropped a '.' element; "
      "no element left, named '_')",
      out.warnings[0]);
  EXPECT_EQ("file 1: path '' became 't/_' (no element left, named '_')", out.warnings[1]);
  EXPECT_EQ("file 1: path 't/_' duplicates an earlier file, renamed to 't/_.1'", out.warnings[2]);
}

TEST(PathSanitizer, SeparatorsAndNulInsideElementsBecomeUnderscores) {
  std::vector<std::string> reasons;
  EXPECT_EQ("_etc_passwd", sanitize_element("/etc/passwd", reasons));
  EXPECT_EQ("a_b", sanitize_element("a\\b", reasons));
  EXPECT_EQ("a_b", sanitize_element("a\0b"s, reasons));
  EXPECT_EQ("._", sanitize_element(".\0"s, reasons));  // ".\0" is not "."
  EXPECT_THAT(reasons, ElementsAre("replaced '/' or '\\' with '_'", "replaced '/' or '\\' with '_'",
                                   "replaced NUL with '_'", "replaced NUL with '_'"));
  auto out = sanitize({{"x/../../y"}});
  EXPECT_THAT(out.paths, ElementsAre("t/x_.._.._y"));
}

TEST(PathSanitizer, InvalidUtf8IsReplacedBytewise) {
  std::vector<std::string> reasons;
  // Valid multibyte text is kept.
  EXPECT_EQ("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
            sanitize_element("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", reasons));
  EXPECT_THAT(reasons, IsEmpty());
  EXPECT_EQ("a_b", sanitize_element("a\xff"
                                    "b",
                                    reasons));                       // never valid
  EXPECT_EQ("__", sanitize_element("\xc0\xaf", reasons));            // overlong '/'
  EXPECT_EQ("___", sanitize_element("\xed\xa0\x80", reasons));       // surrogate U+D800
  EXPECT_EQ("____", sanitize_element("\xf4\x90\x80\x80", reasons));  // above U+10FFFF
  EXPECT_EQ("x_", sanitize_element("x\xc3", reasons));               // truncated sequence
  EXPECT_EQ(5u, reasons.size());
  EXPECT_EQ("replaced invalid UTF-8 with '_'", reasons[0]);
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9"));
  EXPECT_FALSE(is_valid_utf8("caf\xe9"));
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));     // overlong 3-byte
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

TEST(PathSanitizer, LongElementsAreCutKeepingExtensionAndUtf8) {
  std::vector<std::string> reasons;
  const std::string long_name = std::string(300, 'a') + ".mkv";
  const auto cut = sanitize_element(long_name, reasons);
  ASSERT_TRUE(cut);
  EXPECT_EQ(std::string(251, 'a') + ".mkv", *cut);
  EXPECT_THAT(reasons, ElementsAre("cut an element of 304 bytes to 255"));

  // 2-byte characters: the cut never splits one.
  std::string accents;
  for (int i = 0; i < 200; ++i)
    accents += "\xc3\xa9";
  const auto cut2 = sanitize_element(accents + ".txt", reasons);
  ASSERT_TRUE(cut2);
  EXPECT_LE(cut2->size(), kNameMax);
  EXPECT_TRUE(is_valid_utf8(*cut2));
  EXPECT_EQ(250u + 4u, cut2->size());  // 125 characters of 2 bytes + ".txt"

  // An "extension" over 32 bytes is not one: the name is simply cut.
  const std::string odd = std::string(250, 'b') + "." + std::string(40, 'c');
  EXPECT_EQ(std::string(250, 'b') + "." + std::string(4, 'c'), sanitize_element(odd, reasons));
  EXPECT_EQ(std::string(255, 'z'), sanitize_element(std::string(255, 'z'), reasons));
}

TEST(PathSanitizer, DuplicatesAreRenamedBeforeTheExtension) {
  auto out = sanitize({{"a.txt"}, {"a.txt"}, {"a.1.txt"}, {"a.txt"}, {"README"}, {"README"}});
  EXPECT_THAT(out.paths, ElementsAre("t/a.txt", "t/a.2.txt", "t/a.1.txt", "t/a.3.txt", "t/README",
                                     "t/README.1"));
  EXPECT_THAT(
      out.warnings,
      ElementsAre("file 1: path 't/a.txt' duplicates an earlier file, renamed to 't/a.2.txt'",
                  "file 3: path 't/a.txt' duplicates an earlier file, renamed to 't/a.3.txt'",
                  "file 5: path 't/README' duplicates an earlier file, renamed to 't/README.1'"));
}

TEST(PathSanitizer, SanitizingCanCreateDuplicatesThatAreThenRenamed) {
  auto out = sanitize({{"a/b"}, {"a", "b"}, {"a_b"}});
  EXPECT_THAT(out.paths, ElementsAre("t/a_b", "t/a/b", "t/a_b.1"));
  EXPECT_EQ(2u, out.warnings.size());
}

TEST(PathSanitizer, CaseIsKept) {
  auto out = sanitize({{"File"}, {"file"}, {"FILE"}});
  EXPECT_THAT(out.paths, ElementsAre("t/File", "t/file", "t/FILE"));
  EXPECT_THAT(out.warnings, IsEmpty());
}

TEST(PathSanitizer, AFileClashingWithADirectoryIsRenamedInEitherOrder) {
  auto first = sanitize({{"a"}, {"a", "b"}});
  EXPECT_THAT(first.paths, ElementsAre("t/a.1", "t/a/b"));
  EXPECT_THAT(first.warnings,
              ElementsAre("file 0: path 't/a' is also a directory, renamed to 't/a.1'"));
  auto last = sanitize({{"d", "e", "f"}, {"d", "e"}});
  EXPECT_THAT(last.paths, ElementsAre("t/d/e/f", "t/d/e.1"));
}

TEST(PathSanitizer, PadFilesAreSanitizedButMayShareAPath) {
  auto out = sanitize({{"a"}, {".pad", "16384"}, {"b"}, {".pad", "16384"}, {".pad", "..", "x"}},
                      {false, true, false, true, true});
  EXPECT_THAT(out.paths, ElementsAre("t/a", "t/.pad/16384", "t/b", "t/.pad/16384", "t/.pad/x"));
  EXPECT_EQ(1u, out.warnings.size());
}

TEST(PathSanitizer, ManyDuplicatesStayLinear) {
  std::vector<std::vector<std::string_view>> files(20'000, {"same.bin"});
  auto out = sanitize(files);
  EXPECT_EQ("t/same.19999.bin", out.paths.back());
  // Warnings are capped: 1000 of them and a summary of the rest.
  ASSERT_EQ(1001u, out.warnings.size());
  EXPECT_EQ("file 1000: path 't/same.bin' duplicates an earlier file, renamed to 't/same.1000.bin'",
            out.warnings[999]);
  EXPECT_EQ("... and 18999 more path changes", out.warnings.back());
}

TEST(PathSanitizer, TheNameFallsBackWhenUnusable) {
  std::vector<std::string> warnings;
  EXPECT_EQ("0123abcd", sanitize_name("..", "0123abcd", warnings));
  EXPECT_EQ("0123abcd", sanitize_name("", "0123abcd", warnings));
  EXPECT_EQ("_", sanitize_name("/", "0123abcd", warnings));
  EXPECT_EQ("ok", sanitize_name("ok", "0123abcd", warnings));
  EXPECT_THAT(warnings, ElementsAre("name '..' cannot be used, using '0123abcd' instead",
                                    "name '' cannot be used, using '0123abcd' instead",
                                    "name '/' became '_' (replaced '/' or '\\' with '_')"));
}

TEST(PathSanitizer, PrintableEscapesWhatATerminalShouldNotSee) {
  EXPECT_EQ("caf\xc3\xa9", printable("caf\xc3\xa9"));
  EXPECT_EQ("a\\x00b\\x1b\\xff\\x27\\x5c", printable("a\0b\x1b\xff'\\"s));
  EXPECT_EQ("abc...", printable("abcdef", 3));
}

}  // namespace
}  // namespace torfs
