#include "engine/torrent_creator.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cache/sha1.hpp"
#include "engine/bencode.hpp"
#include "engine/metainfo.hpp"
#include "tests/common/test_util.hpp"

namespace torfs {
namespace {
namespace fs = std::filesystem;

class TorrentCreatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("torfs-creator");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a file of `size` deterministic pseudo-random bytes and returns its content.
  std::string write(const std::string& rel, std::size_t size) {
    std::mt19937 rng(static_cast<unsigned>(size * 31 + rel.size()));
    std::string data(size, '\0');
    for (auto& c : data)
      c = static_cast<char>(rng());
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(size));
    return data;
  }

  static std::vector<Sha1Hash> reference_hashes(const std::string& stream, std::size_t piece) {
    std::vector<Sha1Hash> out;
    for (std::size_t off = 0; off < stream.size(); off += piece) {
      out.push_back(sha1(std::string_view(stream).substr(off, piece)));
    }
    return out;
  }

  Metainfo create_and_parse(const CreateOptions& options) {
    auto torrent = create_torrent(options);
    EXPECT_TRUE(torrent.ok()) << (torrent.ok() ? "" : torrent.error().message);
    if (!torrent.ok()) return {};
    bytes_ = *torrent;
    auto meta = parse_metainfo(bytes_);
    EXPECT_TRUE(meta.ok()) << (meta.ok() ? "" : meta.error().message);
    return meta.ok() ? std::move(*meta) : Metainfo{};
  }

  fs::path dir_;
  std::string bytes_;
};

TEST_F(TorrentCreatorTest, SingleFileInfoDictIsExactlyMktorrents) {
  write("hello.txt", 0);
  std::ofstream(dir_ / "hello.txt") << "hello";
  CreateOptions o;
  o.source = dir_ / "hello.txt";
  o.piece_length = 16384;
  o.trackers = {{"http://t.example/announce"}};
  const Metainfo m = create_and_parse(o);
  const Sha1Hash h = sha1("hello");
  const std::string expected_info =
      "d6:lengthi5e4:name9:hello.txt12:piece lengthi16384e6:pieces20:" +
      std::string(reinterpret_cast<const char*>(h.data()), 20) + "e";
  EXPECT_EQ(m.info_bytes, expected_info);
  EXPECT_EQ(m.info_hash, sha1(expected_info));
  EXPECT_FALSE(m.multi_file);
  EXPECT_FALSE(m.is_private);
  EXPECT_EQ(m.name, "hello.txt");
  ASSERT_EQ(m.tracker_tiers.size(), 1u);
  EXPECT_EQ(m.tracker_tiers[0][0], "http://t.example/announce");
  // One tracker: `announce` only, like mktorrent; created by torfs; no date unless asked.
  auto doc = bencode::decode(bytes_);
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(doc->root().find("announce-list"));
  EXPECT_FALSE(doc->root().find("creation date"));
  EXPECT_EQ(doc->root().find_string("created by").value_or(""), "torfs");
}

TEST_F(TorrentCreatorTest, MultiFileOrderIsStrcmpOfRelativePaths) {
  std::map<std::string, std::string> content;
  for (const auto& [rel, size] : std::vector<std::pair<std::string, std::size_t>>{{"a.txt", 3000},
                                                                                  {"a/b", 20000},
                                                                                  {"b/c/d", 17},
                                                                                  {".hidden", 5},
                                                                                  {"empty", 0},
                                                                                  {"B", 40000},
                                                                                  {"a b", 1}}) {
    content[rel] = write("src/" + rel, size);
  }
  fs::create_directories(dir_ / "src/emptydir/deeper");
  CreateOptions o;
  o.source = dir_ / "src/";  // trailing slash: name is still "src"
  o.piece_length = 16384;
  const Metainfo m = create_and_parse(o);
  EXPECT_TRUE(m.multi_file);
  EXPECT_EQ(m.name, "src");
  // '.' (0x2e) < '/' (0x2f) < 'A'..'Z' < 'a'..'z'; ' ' (0x20) first of all.
  const std::vector<std::string> order = {".hidden", "B", "a b", "a.txt", "a/b", "b/c/d", "empty"};
  ASSERT_EQ(m.layout.num_files(), order.size());
  std::string stream;
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(m.layout.files()[i].path, "src/" + order[i]);
    EXPECT_EQ(m.layout.files()[i].size, content[order[i]].size());
    stream += content[order[i]];
  }
  EXPECT_EQ(m.layout.total_size(), stream.size());
  EXPECT_EQ(m.piece_hashes, reference_hashes(stream, 16384));  // pieces span file boundaries
}

TEST_F(TorrentCreatorTest, PieceBoundaries) {
  const std::size_t piece = 16384;
  for (std::size_t size :
       {std::size_t{1}, piece - 1, piece, piece + 1, 5 * piece, 5 * piece - 1, 5 * piece + 1}) {
    SCOPED_TRACE(size);
    const std::string data = write("f" + std::to_string(size), size);
    CreateOptions o;
    o.source = dir_ / ("f" + std::to_string(size));
    o.piece_length = piece;
    const Metainfo m = create_and_parse(o);
    EXPECT_EQ(m.layout.total_size(), size);
    EXPECT_EQ(m.piece_hashes, reference_hashes(data, piece));
  }
}

TEST_F(TorrentCreatorTest, OneThreadAndManyThreadsGiveTheSameBytes) {
  std::string stream;
  for (int i = 0; i < 40; ++i) {
    stream += write("many/d" + std::to_string(i % 3) + "/f" + std::to_string(i + 10),
                    static_cast<std::size_t>(i) * 7919 + 13);
  }
  CreateOptions o;
  o.source = dir_ / "many";
  o.piece_length = 16384;
  o.threads = 1;
  auto one = create_torrent(o);
  o.threads = 7;
  auto seven = create_torrent(o);
  ASSERT_TRUE(one.ok() && seven.ok());
  EXPECT_EQ(*one, *seven);
}

TEST_F(TorrentCreatorTest, TrackersWebSeedsPrivateAndExtras) {
  write("d/x", 100);
  CreateOptions o;
  o.source = dir_ / "d";
  o.trackers = {{"http://a/ann", "http://b/ann"}, {"udp://c:80/ann"}};
  o.web_seeds = {"http://w1/", "http://w2/"};
  o.is_private = true;
  o.comment = "a comment";
  o.created_by = "torfs/test";
  o.creation_date = 1700000000;
  const Metainfo m = create_and_parse(o);
  EXPECT_TRUE(m.is_private);
  EXPECT_NE(m.info_bytes.find("7:privatei1e"), std::string::npos);
  ASSERT_EQ(m.tracker_tiers.size(), 2u);
  EXPECT_EQ(m.tracker_tiers[0], (std::vector<std::string>{"http://a/ann", "http://b/ann"}));
  EXPECT_EQ(m.tracker_tiers[1], (std::vector<std::string>{"udp://c:80/ann"}));
  EXPECT_EQ(m.web_seeds, (std::vector<std::string>{"http://w1/", "http://w2/"}));
  EXPECT_EQ(m.comment, "a comment");
  EXPECT_EQ(m.created_by, "torfs/test");
  EXPECT_EQ(m.creation_date, 1700000000);
  auto doc = bencode::decode(bytes_);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().find_string("announce").value_or(""), "http://a/ann");
}

TEST_F(TorrentCreatorTest, OneWebSeedIsAString) {
  write("f", 10);
  CreateOptions o;
  o.source = dir_ / "f";
  o.web_seeds = {"http://w/f"};
  const Metainfo m = create_and_parse(o);
  auto doc = bencode::decode(bytes_);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().find_string("url-list").value_or(""), "http://w/f");
  EXPECT_EQ(m.web_seeds, (std::vector<std::string>{"http://w/f"}));
}

TEST_F(TorrentCreatorTest, SymlinksInsideAreFollowedOutsideRefused) {
  const std::string data = write("src/real", 1000);
  write("outside", 10);
  fs::create_directory_symlink(dir_ / "src", dir_ / "linked_src");
  fs::create_symlink("real", dir_ / "src/alias");
  CreateOptions o;
  o.source = dir_ / "src";
  o.piece_length = 16384;
  Metainfo m = create_and_parse(o);
  ASSERT_EQ(m.layout.num_files(), 2u);
  EXPECT_EQ(m.layout.files()[0].path, "src/alias");
  EXPECT_EQ(m.piece_hashes, reference_hashes(data + data, 16384));

  fs::create_symlink(dir_ / "outside", dir_ / "src/escape");
  auto r = create_torrent(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("escape"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("points to"), std::string::npos) << r.error().message;
  fs::remove(dir_ / "src/escape");

  fs::create_symlink(dir_ / "nowhere", dir_ / "src/dangling");
  r = create_torrent(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("dangling"), std::string::npos) << r.error().message;
  fs::remove(dir_ / "src/dangling");

  fs::create_directory_symlink(".", dir_ / "src/cycle");
  r = create_torrent(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("symlink loop"), std::string::npos) << r.error().message;
  fs::remove(dir_ / "src/cycle");

  o.source = dir_ / "linked_src";  // the source itself may be a symlink; its name is kept
  m = create_and_parse(o);
  EXPECT_EQ(m.name, "linked_src");
}

TEST_F(TorrentCreatorTest, SpecialFilesAreReportedNeverSilentlySkipped) {
  write("src/file", 100);
  ASSERT_EQ(::mkfifo((dir_ / "src/fifo").c_str(), 0600), 0);
  CreateOptions o;
  o.source = dir_ / "src";
  auto r = create_torrent(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("fifo"), std::string::npos) << r.error().message;
  std::vector<std::string> warnings;
  o.warning = [&](const std::string& w) { warnings.push_back(w); };
  const Metainfo m = create_and_parse(o);
  EXPECT_EQ(m.layout.num_files(), 1u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("fifo"), std::string::npos);
}

TEST_F(TorrentCreatorTest, Errors) {
  CreateOptions o;
  o.source = dir_ / "missing";
  auto r = create_torrent(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("missing"), std::string::npos);

  fs::create_directories(dir_ / "empty/sub");
  o.source = dir_ / "empty";
  EXPECT_FALSE(create_torrent(o).ok());

  write("zeros/a", 0);
  write("zeros/b", 0);
  o.source = dir_ / "zeros";
  r = create_torrent(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("total size 0"), std::string::npos) << r.error().message;

  write("f", 10);
  o.source = dir_ / "f";
  for (std::uint32_t bad : {1000u, 8192u, 16385u, 1u << 29}) {
    o.piece_length = bad;
    r = create_torrent(o);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("piece length"), std::string::npos);
  }
}

TEST_F(TorrentCreatorTest, ProgressIsMonotonicAndEndsAtTotal) {
  write("big", 3 * 1024 * 1024 + 5);
  CreateOptions o;
  o.source = dir_ / "big";
  o.piece_length = 16384;
  o.threads = 3;
  std::vector<std::uint64_t> seen;
  o.progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_EQ(total, 3u * 1024 * 1024 + 5);
    seen.push_back(done);
  };
  ASSERT_TRUE(create_torrent(o).ok());
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.back(), 3u * 1024 * 1024 + 5);
}

TEST(AutomaticPieceLength, PowerOfTwoWithinBoundsAndAboutFifteenHundredPieces) {
  EXPECT_EQ(automatic_piece_length(1), 16u * 1024);
  EXPECT_EQ(automatic_piece_length(1500ull * 16 * 1024), 16u * 1024);
  EXPECT_EQ(automatic_piece_length(1500ull * 16 * 1024 + 1), 32u * 1024);
  EXPECT_EQ(automatic_piece_length(1ull << 30), 1u << 20);   // 1 GiB: 1024 pieces of 1 MiB
  EXPECT_EQ(automatic_piece_length(1ull << 50), 16u << 20);  // capped at 16 MiB
}

}  // namespace
}  // namespace torfs
