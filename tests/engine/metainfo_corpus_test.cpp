// Every crafted torrent in tests/data/torrents/bad/ (written by tests/data/make_bad_torrents.py)
// and its expected outcome: a specific error, or success with specific sanitized paths and
// warnings. A file without a row here, or a row without a file, fails the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "engine/metainfo.hpp"

namespace torfs {
namespace {

using ::testing::HasSubstr;

struct Case {
  const char* file;
  // Failure: a substring of the error message. Empty for success.
  const char* error;
  std::vector<std::string> paths;     // success: every file's sanitized path
  std::vector<std::string> warnings;  // success: substrings, one per warning, in order
};

Case fails(const char* file, const char* error) {
  return Case{file, error, {}, {}};
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.file;
}

const std::string kBadDir = std::string(TORFS_TEST_DATA_DIR) + "/torrents/bad";
const std::string k255x = std::string(251, 'x') + ".txt";
std::string accents(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "\xc3\xa9";
  return s;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      // Unsafe paths: loaded, sanitized, and every change explained.
      {"traversal_dotdot",
       "",
       {"evil/etc/passwd", "evil/ok.txt"},
       {"file 0: path '../../etc/passwd' became 'evil/etc/passwd' (dropped a '..' element; "
        "dropped a '..' element)"}},
      {"absolute_path",
       "",
       {"evil/etc/shadow"},
       {"file 0: path '/etc/shadow' became 'evil/etc/shadow' (dropped an empty element)"}},
      {"absolute_single_name",
       "",
       {"_etc_passwd"},
       {"name '/etc/passwd' became '_etc_passwd' (replaced '/' or '\\' with '_')"}},
      {"dotdot_name",
       "",
       {"211169ac300b4d83fcfa0f4cff1aef68af9e33d0"},
       {"name '..' cannot be used"}},
      {"slash_in_element",
       "",
       {"n/a_.._.._b", "n/c_d"},
       {"path 'a/../../b' became 'n/a_.._.._b'", "path 'c\\x5cd' became 'n/c_d'"}},
      {"empty_path_element", "", {"n/a/b"}, {"(dropped an empty element)"}},
      {"dot_elements_only", "", {"n/_"}, {"no element left, named '_'"}},
      {"nul_in_name", "", {"a_b"}, {"name 'a\\x00b' became 'a_b' (replaced NUL with '_')"}},
      {"nul_in_path", "", {"n/x_y"}, {"path 'x\\x00y' became 'n/x_y' (replaced NUL with '_')"}},
      {"invalid_utf8",
       "",
       {"caf_/__.txt"},
       {"name 'caf\\xe9' became 'caf_' (replaced invalid UTF-8 with '_')",
        "file 0: path '\\xff\\xfe.txt' became 'caf_/__.txt'"}},
      {"utf8_variants_preferred", "", {"latin\xc3\xa9/f\xc3\xa9"}, {}},
      {"overlong_name",
       "",
       {"n/" + k255x, "n/" + accents(127)},
       {"cut an element of 304 bytes to 255", "cut an element of 400 bytes to 255"}},
      {"duplicate_names",
       "",
       {"n/a.txt", "n/a.1.txt", "n/A.txt"},
       {"file 1: path 'n/a.txt' duplicates an earlier file, renamed to 'n/a.1.txt'"}},
      {"file_dir_clash",
       "",
       {"n/a.1", "n/a/b"},
       {"file 0: path 'n/a' is also a directory, renamed to 'n/a.1'"}},
      {"windows_reserved_kept", "", {"n/CON", "n/a:b?*|<>"}, {}},
      {"pad_files",
       "",
       {"n/a", "n/.pad/15384", "n/b", "n/.pad/15384", "n/_____padding_file_0_if you see this file",
        "n/run.sh"},
       {}},
      {"zero_length_file_in_multi", "", {"n/empty", "n/data"}, {}},
      {"unsorted_info_keys",
       "",
       {"u"},
       {"info dictionary is not canonical bencode (bencode: unsorted dict key 'name'"}},
      {"unsorted_outer_keys", "", {"o"}, {}},
      {"both_length_and_files", "", {"n/a"}, {"info has both 'length' and 'files'; using 'files'"}},
      {"trailing_garbage", "", {"n"}, {"ignored 7 bytes after the torrent's dictionary at byte"}},
      {"piece_length_multiple_of_16k", "", {"n"}, {}},
      // Sizes.
      fails("negative_size", "metainfo: info.length -1 is negative"),
      fails("negative_file_size", "metainfo: info.files[1].length -5 is negative"),
      fails("overflowing_size", "bencode: integer overflows 64 bits at byte"),
      fails("size_sum_overflow", "metainfo: total size overflows at info.files[1]"),
      fails("zero_total_size", "metainfo: total size is 0 (nothing to download)"),
      fails("no_files", "metainfo: info.files is empty (nothing to download)"),
      fails("neither_length_nor_files", "metainfo: info has neither 'length' nor 'files'"),
      // Pieces.
      fails("pieces_not_multiple_of_20", "metainfo: info.pieces length 41 is not a multiple of 20"),
      fails("wrong_piece_count",
            "metainfo: info.pieces holds 2 hashes but 49152 bytes in pieces of 16384 need 3"),
      fails("piece_length_zero", "metainfo: info.piece length 0 is not positive"),
      fails("piece_length_negative", "metainfo: info.piece length -16384 is not positive"),
      fails("piece_length_not_power_of_two",
            "metainfo: info.piece length 20000 is neither a power of two nor a multiple of 16 KiB"),
      fails("piece_length_huge",
            "metainfo: info.piece length 1073741824 is outside [16384, 268435456]"),
      // Structure.
      fails("missing_info", "metainfo: missing 'info' dictionary"),
      fails("info_not_dict", "metainfo: 'info' is not a dictionary"),
      fails("not_a_dict", "metainfo: top-level value is not a dictionary"),
      fails("missing_piece_length", "metainfo: missing info.piece length"),
      fails("missing_pieces", "metainfo: missing info.pieces"),
      fails("path_not_list", "metainfo: info.files[0].path is missing or not a list"),
      fails("path_element_not_string", "metainfo: info.files[0].path[1] is not a string"),
      fails("file_entry_not_dict", "metainfo: info.files[1] is not a dictionary"),
      fails("deep_nesting", "bencode: nesting deeper than 100 at byte"),
      fails("huge_string_length",
            "bencode: string length 99999999999999999999 exceeds the remaining 1 bytes at byte 11"),
      fails("truncated", "bencode: string length 20 exceeds the remaining 15 bytes at byte 102"),
  };
  return kCases;
}

class MetainfoCorpus : public ::testing::TestWithParam<Case> {};

TEST_P(MetainfoCorpus, YieldsTheExpectedOutcome) {
  const Case& c = GetParam();
  const std::string path = kBadDir + "/" + c.file + ".torrent";
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " (run tests/data/make_bad_torrents.py)";
  auto m = load_metainfo_file(path);
  if (*c.error) {
    ASSERT_FALSE(m) << c.file << " loaded but should fail with: " << c.error;
    EXPECT_THAT(m.error().message, HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(m) << m.error().message;
  std::vector<std::string> paths;
  for (const auto& f : m->layout.files())
    paths.push_back(f.path);
  EXPECT_EQ(c.paths, paths);
  ASSERT_EQ(c.warnings.size(), m->warnings.size()) << ::testing::PrintToString(m->warnings);
  for (std::size_t i = 0; i < c.warnings.size(); ++i) {
    EXPECT_THAT(m->warnings[i], HasSubstr(c.warnings[i]));
  }
  // Whatever the input, no path escapes the root or contains an unsafe element.
  for (const auto& p : paths) {
    EXPECT_NE('/', p.front()) << p;
    for (const auto& part : std::filesystem::path(p)) {
      EXPECT_NE("..", part.string()) << p;
      EXPECT_NE(".", part.string()) << p;
      EXPECT_LE(part.string().size(), 255u) << p;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BadTorrents, MetainfoCorpus, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.file); });

TEST(MetainfoCorpusTable, CoversEveryFileInTheCorpus) {
  std::set<std::string> files, rows;
  for (const auto& entry : std::filesystem::directory_iterator(kBadDir)) {
    if (entry.path().extension() == ".torrent") files.insert(entry.path().stem().string());
  }
  for (const auto& c : cases())
    rows.insert(c.file);
  EXPECT_EQ(files, rows);
}

}  // namespace
}  // namespace torfs
