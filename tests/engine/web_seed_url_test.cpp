// Web seed URLs of renamed files: the metainfo keeps the torrent's own path elements
// (Metainfo::original_paths) and web_seed::file_url builds the URL from them, not from the
// sanitized on-disk path (BEP 19: the server has the files under the torrent's names).
#include <gtest/gtest.h>

#include "engine/bencode.hpp"
#include "engine/metainfo.hpp"
#include "engine/web_seed_proto.hpp"

namespace torfs {
namespace {

using bencode::Value;
constexpr std::int64_t kPiece = 16384;

// A torrent of `files` (path element lists, each 1000 bytes) named `name`.
Metainfo parse(std::string name, const std::vector<std::vector<std::string>>& files) {
  Value::Dict info;
  info.emplace("name", Value(std::move(name)));
  info.emplace("piece length", Value(kPiece));
  if (files.size() == 1 && files[0].empty()) {
    info.emplace("length", Value(std::int64_t{1000}));
  } else {
    Value::List list;
    for (const auto& path : files) {
      Value::List elements;
      for (const std::string& e : path)
        elements.emplace_back(e);
      Value::Dict file;
      file.emplace("length", Value(std::int64_t{1000}));
      file.emplace("path", Value(std::move(elements)));
      list.emplace_back(std::move(file));
    }
    info.emplace("files", Value(std::move(list)));
  }
  const std::int64_t total = 1000 * static_cast<std::int64_t>(files.size());
  info.emplace("pieces", Value(std::string(
                             20 * static_cast<std::size_t>((total + kPiece - 1) / kPiece), 'x')));
  auto m = parse_metainfo(bencode::encode(Value(Value::Dict{{"info", Value(std::move(info))}})));
  EXPECT_TRUE(m) << m.error().message;
  return m ? *m : Metainfo{};
}

TEST(WebSeedUrl, RenamedFilesKeepTheirOriginalElementsForTheUrl) {
  const Metainfo m = parse("set\\one", {{"dir", "back\\slash.bin"}, {"plain.txt"}, {"plain.txt"}});
  ASSERT_EQ(3u, m.layout.num_files());
  EXPECT_EQ("set_one/dir/back_slash.bin", m.layout.file(FileIndex(0)).path);
  EXPECT_EQ("set_one/plain.1.txt", m.layout.file(FileIndex(2)).path);  // the duplicate
  ASSERT_EQ(3u, m.original_paths.size());
  EXPECT_EQ((std::vector<std::string>{"set\\one", "dir", "back\\slash.bin"}), m.original_paths[0]);
  const auto* original = &m.original_paths;
  EXPECT_EQ("http://h/ws/set%5Cone/dir/back%5Cslash.bin",
            web_seed::file_url("http://h/ws", m.layout, FileIndex(0), true, original));
  EXPECT_EQ("http://h/ws/set%5Cone/plain.txt",
            web_seed::file_url("http://h/ws/", m.layout, FileIndex(2), true, original));
  // Without the original elements: the sanitized path (what the old URLs were, a 404).
  EXPECT_EQ("http://h/ws/set_one/dir/back_slash.bin",
            web_seed::file_url("http://h/ws", m.layout, FileIndex(0), true));
  const auto plan = web_seed::plan_fetch("http://h/", m.layout, true, 500, 2000, original);
  ASSERT_EQ(3u, plan.size());
  EXPECT_EQ("http://h/set%5Cone/dir/back%5Cslash.bin", plan[0].url);
  EXPECT_EQ("http://h/set%5Cone/plain.txt", plan[2].url);
}

TEST(WebSeedUrl, DotElementsNeverStepOutOfTheBase) {
  const Metainfo m = parse("t", {{"..", "..", "etc", "", ".", "x"}});
  ASSERT_EQ(1u, m.original_paths.size());
  EXPECT_EQ("http://h/b/t/etc/x",
            web_seed::file_url("http://h/b/", m.layout, FileIndex(0), true, &m.original_paths));
}

TEST(WebSeedUrl, SingleFileUsesTheOriginalName) {
  const Metainfo m = parse("a\\b c.iso", {{}});
  ASSERT_FALSE(m.multi_file);
  EXPECT_EQ("a_b c.iso", m.layout.file(FileIndex(0)).path);
  EXPECT_EQ((std::vector<std::vector<std::string>>{{"a\\b c.iso"}}), m.original_paths);
  EXPECT_EQ("http://h/d/a%5Cb%20c.iso",
            web_seed::file_url("http://h/d/", m.layout, FileIndex(0), false, &m.original_paths));
  EXPECT_EQ("http://h/f.iso",
            web_seed::file_url("http://h/f.iso", m.layout, FileIndex(0), false, &m.original_paths));
  // An unusable name (sanitized to the info-hash): the URL falls back to the sanitized name.
  const Metainfo unnamed = parse("..", {{}});
  EXPECT_EQ("http://h/" + unnamed.name,
            web_seed::file_url("http://h/", unnamed.layout, FileIndex(0), false,
                               &unnamed.original_paths));
}

}  // namespace
}  // namespace torfs
