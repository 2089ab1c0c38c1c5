#include "engine/metainfo.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "engine/bencode.hpp"

namespace torfs {
namespace {

using bencode::Value;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kData = TORFS_TEST_DATA_DIR;

// A valid single-file info dict of `length` bytes in 16 KiB pieces, to be modified by tests.
Value::Dict single_info(std::int64_t length = 40000) {
  const std::int64_t pieces = (length + 16383) / 16384;
  return Value::Dict{{"name", Value("file.bin")},
                     {"length", Value(length)},
                     {"piece length", Value(16384)},
                     {"pieces", Value(std::string(static_cast<std::size_t>(20 * pieces), 'h'))}};
}

std::string torrent_with(Value::Dict info, Value::Dict outer = {}) {
  outer["info"] = Value(std::move(info));
  return bencode::encode(Value(std::move(outer)));
}

std::string error_of(std::string_view bytes) {
  auto m = parse_metainfo(bytes);
  return m ? std::string() : m.error().message;
}

TEST(Metainfo, MktorrentSingleFileMatchesLibtorrent) {
  // tests/data/torrents/README.md: made by mktorrent; expected values from libtorrent 2.0.8.
  auto m = load_metainfo_file(kData + "/torrents/mktorrent-single.torrent");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ("281150c207c5f86b68539ef43e069d3535cde312", to_hex(m->info_hash));
  EXPECT_EQ("hello.bin", m->name);
  EXPECT_FALSE(m->multi_file);
  EXPECT_FALSE(m->is_private);
  EXPECT_EQ(100000u, m->layout.total_size());
  EXPECT_EQ(32768u, m->layout.piece_length());
  EXPECT_EQ(4u, m->layout.num_pieces());
  ASSERT_EQ(1u, m->layout.num_files());
  EXPECT_EQ("hello.bin", m->layout.files()[0].path);
  EXPECT_THAT(m->tracker_tiers, ElementsAre(ElementsAre("http://127.0.0.1:6969/announce")));
  EXPECT_EQ("single-file test torrent", m->comment);
  EXPECT_EQ("mktorrent 1.1", m->created_by);
  EXPECT_FALSE(m->creation_date);
  EXPECT_THAT(m->warnings, IsEmpty());
  EXPECT_EQ(sha1(m->info_bytes), m->info_hash);

  // The piece hashes are those of the data mktorrent hashed: bytes i % 251.
  std::string data(100000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i % 251);
  ASSERT_EQ(4u, m->piece_hashes.size());
  for (std::uint32_t p = 0; p < 4; ++p) {
    EXPECT_EQ(sha1(std::string_view(data).substr(p * 32768, 32768)), m->piece_hashes[p]) << p;
  }
}

TEST(Metainfo, MktorrentMultiFileMatchesLibtorrent) {
  auto m = load_metainfo_file(kData + "/torrents/mktorrent-multi.torrent");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ("011c587d6476c8dff8885ac5b209556bf556a586", to_hex(m->info_hash));
  EXPECT_EQ("album", m->name);
  EXPECT_TRUE(m->multi_file);
  EXPECT_TRUE(m->is_private);
  EXPECT_EQ(75400u, m->layout.total_size());
  EXPECT_EQ(3u, m->layout.num_pieces());
  ASSERT_EQ(3u, m->layout.num_files());
  EXPECT_EQ("album/a.txt", m->layout.files()[0].path);
  EXPECT_EQ(5400u, m->layout.files()[0].size);
  EXPECT_EQ("album/sub/b.bin", m->layout.files()[1].path);
  EXPECT_EQ(5400u, m->layout.files()[1].offset);
  EXPECT_EQ("album/sub/empty", m->layout.files()[2].path);
  EXPECT_EQ(0u, m->layout.files()[2].size);
  EXPECT_THAT(m->tracker_tiers, ElementsAre(ElementsAre("http://127.0.0.1:6969/announce",
                                                        "http://127.0.0.2:6969/announce"),
                                            ElementsAre("udp://127.0.0.3:6969")));
  EXPECT_THAT(m->web_seeds, ElementsAre("http://127.0.0.4/files/"));
  EXPECT_THAT(m->warnings, IsEmpty());
}

TEST(Metainfo, InfoHashIsOverTheRawBytesEvenWhenNotCanonical) {
  // Keys of info out of order: re-encoding would sort them and change the hash.
  const std::string info =
      "d6:lengthi10e12:piece lengthi16384e4:name1:x6:pieces20:" + std::string(20, 'p') + "e";
  const std::string bytes = "d4:info" + info + "e";
  auto m = parse_metainfo(bytes);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(sha1(info), m->info_hash);
  EXPECT_EQ(info, m->info_bytes);
  ASSERT_EQ(1u, m->warnings.size());
  EXPECT_THAT(m->warnings[0], HasSubstr("info dictionary is not canonical bencode (bencode: "
                                        "unsorted dict key 'name' at byte 35)"));
}

TEST(Metainfo, ParseInfoDictChecksTheExpectedHash) {
  const std::string info = bencode::encode(Value(single_info()));
  auto m = parse_info_dict(info, sha1(info));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ("file.bin", m->name);
  EXPECT_EQ(3u, m->layout.num_pieces());
  EXPECT_THAT(m->tracker_tiers, IsEmpty());

  Sha1Hash wrong{};
  auto bad = parse_info_dict(info, wrong);
  ASSERT_FALSE(bad);
  EXPECT_EQ("metainfo: info dictionary hashes to " + to_hex(sha1(info)) +
                ", expected 0000000000000000000000000000000000000000",
            bad.error().message);
}

TEST(Metainfo, AnnounceListTiersAreDedupedAndWinOverAnnounce) {
  using L = Value::List;
  auto m = parse_metainfo(torrent_with(
      single_info(),
      {{"announce", Value("http://lone/")},
       {"announce-list",
        Value(L{Value(L{Value("http://a/"), Value("http://b/"), Value("http://a/")}), Value(L{}),
                Value("not a tier"),
                Value(L{Value("http://b/"), Value(""), Value(7), Value("udp://c:1")})})}}));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_THAT(m->tracker_tiers,
              ElementsAre(ElementsAre("http://a/", "http://b/"), ElementsAre("udp://c:1")));

  auto lone = parse_metainfo(torrent_with(single_info(), {{"announce", Value("http://lone/")}}));
  ASSERT_TRUE(lone);
  EXPECT_THAT(lone->tracker_tiers, ElementsAre(ElementsAre("http://lone/")));

  // An announce-list with no usable URL falls back to announce.
  auto empty =
      parse_metainfo(torrent_with(single_info(), {{"announce", Value("http://lone/")},
                                                  {"announce-list", Value(L{Value(L{})})}}));
  ASSERT_TRUE(empty);
  EXPECT_THAT(empty->tracker_tiers, ElementsAre(ElementsAre("http://lone/")));
}

TEST(Metainfo, UrlListIsAStringOrAList) {
  using L = Value::List;
  auto one = parse_metainfo(torrent_with(single_info(), {{"url-list", Value("http://ws/")}}));
  ASSERT_TRUE(one);
  EXPECT_THAT(one->web_seeds, ElementsAre("http://ws/"));
  auto many = parse_metainfo(torrent_with(
      single_info(), {{"url-list", Value(L{Value("http://a/"), Value(""), Value(1),
                                           Value("http://b/"), Value("http://a/")})}}));
  ASSERT_TRUE(many);
  EXPECT_THAT(many->web_seeds, ElementsAre("http://a/", "http://b/"));
  auto other = parse_metainfo(torrent_with(single_info(), {{"url-list", Value(5)}}));
  ASSERT_TRUE(other);
  EXPECT_THAT(other->web_seeds, IsEmpty());
}

TEST(Metainfo, PrivateFlagIsOnlyOne) {
  auto info = single_info();
  info["private"] = Value(1);
  EXPECT_TRUE(parse_metainfo(torrent_with(info))->is_private);
  info["private"] = Value(0);
  EXPECT_FALSE(parse_metainfo(torrent_with(info))->is_private);
  info["private"] = Value("1");
  EXPECT_FALSE(parse_metainfo(torrent_with(info))->is_private);
}

TEST(Metainfo, PadFilesByAttributeAndLegacyNames) {
  using L = Value::List;
  auto file = [](L path, std::int64_t length, std::string attr = "") {
    Value::Dict d{{"path", Value(std::move(path))}, {"length", Value(length)}};
    if (!attr.empty()) d["attr"] = Value(attr);
    return Value(std::move(d));
  };
  Value::Dict info{
      {"name", Value("t")},
      {"piece length", Value(16384)},
      {"pieces", Value(std::string(60, 'h'))},
      {"files",
       Value(L{file(L{Value("a")}, 100), file(L{Value(".pad"), Value("16284")}, 16284, "p"),
               file(L{Value("x")}, 100, "xh"), file(L{Value(".pad"), Value("16284")}, 16284),
               file(L{Value("_____padding_file_1_")}, 10)})}};
  auto m = parse_metainfo(torrent_with(info));
  ASSERT_TRUE(m) << m.error().message;
  const auto files = m->layout.files();
  ASSERT_EQ(5u, files.size());
  EXPECT_FALSE(files[0].pad);
  EXPECT_TRUE(files[1].pad);
  EXPECT_EQ("t/.pad/16284", files[1].path);
  EXPECT_FALSE(files[2].pad);
  EXPECT_TRUE(files[2].executable);
  EXPECT_TRUE(files[2].hidden);
  EXPECT_TRUE(files[3].pad);
  EXPECT_EQ("t/.pad/16284", files[3].path);  // pads may share a path: never stored
  EXPECT_TRUE(files[4].pad);
  EXPECT_EQ(16384u, files[2].offset);
  EXPECT_THAT(m->warnings, IsEmpty());
}

TEST(Metainfo, Utf8VariantsArePreferredWhenValid) {
  auto info = single_info();
  info["name"] = Value("legacy");
  info["name.utf-8"] = Value("caf\xc3\xa9");
  EXPECT_EQ("caf\xc3\xa9", parse_metainfo(torrent_with(info))->name);
  info["name.utf-8"] = Value("bad\xff");
  EXPECT_EQ("legacy", parse_metainfo(torrent_with(info))->name);
}

TEST(Metainfo, NamesAreSanitizedWithAFallback) {
  auto info = single_info();
  info["name"] = Value("..");
  auto m = parse_metainfo(torrent_with(info));
  ASSERT_TRUE(m);
  EXPECT_EQ(to_hex(m->info_hash), m->name);
  EXPECT_EQ(m->name, m->layout.files()[0].path);
  EXPECT_THAT(m->warnings, ElementsAre("name '..' cannot be used, using '" + to_hex(m->info_hash) +
                                       "' instead"));
  info.erase("name");
  auto unnamed = parse_metainfo(torrent_with(info));
  ASSERT_TRUE(unnamed);
  EXPECT_EQ(to_hex(unnamed->info_hash), unnamed->name);
}

TEST(Metainfo, PieceLengthRules) {
  auto with_piece_length = [](std::int64_t pl) {
    auto info = single_info(100000);
    const std::int64_t pieces = pl > 0 ? (100000 + pl - 1) / pl : 0;
    info["piece length"] = Value(pl);
    info["pieces"] = Value(std::string(static_cast<std::size_t>(20 * pieces), 'h'));
    return error_of(torrent_with(info));
  };
  EXPECT_EQ("", with_piece_length(16384));
  EXPECT_EQ("", with_piece_length(3 * 16384));  // not a power of two, but whole blocks
  EXPECT_EQ("", with_piece_length(256 << 20));
  EXPECT_EQ("metainfo: info.piece length 0 is not positive", with_piece_length(0));
  EXPECT_EQ("metainfo: info.piece length -16384 is not positive", with_piece_length(-16384));
  EXPECT_EQ("metainfo: info.piece length 8192 is outside [16384, 268435456]",
            with_piece_length(8192));
  EXPECT_EQ("metainfo: info.piece length 536870912 is outside [16384, 268435456]",
            with_piece_length(512 << 20));
  EXPECT_EQ("metainfo: info.piece length 20000 is neither a power of two nor a multiple of 16 KiB",
            with_piece_length(20000));
  // Smaller powers of two are allowed once the limit allows them.
  auto info = single_info(100);
  info["piece length"] = Value(4096);
  EXPECT_TRUE(parse_metainfo(torrent_with(info), MetainfoLimits{.min_piece_length = 1024}));
}

TEST(Metainfo, PiecesMustMatchTheTotalSize) {
  auto info = single_info(40000);
  info["pieces"] = Value(std::string(41, 'h'));
  EXPECT_EQ("metainfo: info.pieces length 41 is not a multiple of 20",
            error_of(torrent_with(info)));
  info["pieces"] = Value(std::string(40, 'h'));
  EXPECT_EQ("metainfo: info.pieces holds 2 hashes but 40000 bytes in pieces of 16384 need 3",
            error_of(torrent_with(info)));
}

TEST(Metainfo, SizesAreCheckedAndAZeroTotalIsRejected) {
  EXPECT_EQ("metainfo: info.length -1 is negative", error_of(torrent_with(single_info(-1))));
  EXPECT_EQ("metainfo: total size is 0 (nothing to download)",
            error_of(torrent_with(single_info(0))));
  auto info = single_info();
  info["length"] = Value("10");
  EXPECT_EQ("metainfo: info.length is not an integer", error_of(torrent_with(info)));
}

TEST(Metainfo, StructuralErrorsNameTheKey) {
  EXPECT_EQ("metainfo: top-level value is not a dictionary", error_of("le"));
  EXPECT_EQ("metainfo: missing 'info' dictionary", error_of("de"));
  EXPECT_EQ("metainfo: 'info' is not a dictionary", error_of("d4:infoi1ee"));
  EXPECT_EQ("bencode: unexpected end of input at byte 7", error_of("d4:info"));
  auto info = single_info();
  info.erase("pieces");
  EXPECT_EQ("metainfo: missing info.pieces", error_of(torrent_with(info)));
  info = single_info();
  info.erase("piece length");
  EXPECT_EQ("metainfo: missing info.piece length", error_of(torrent_with(info)));
  info = single_info();
  info.erase("length");
  EXPECT_EQ("metainfo: info has neither 'length' nor 'files'", error_of(torrent_with(info)));
}

TEST(Metainfo, TrailingBytesAreIgnoredWithAWarning) {
  auto m = parse_metainfo(torrent_with(single_info()) + "\n\n");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_THAT(m->warnings,
              ElementsAre(HasSubstr("ignored 2 bytes after the torrent's dictionary")));
}

TEST(Metainfo, LimitsAreEnforced) {
  const std::string bytes = torrent_with(single_info());
  auto small = parse_metainfo(bytes, MetainfoLimits{.max_torrent_size = 50});
  ASSERT_FALSE(small);
  EXPECT_EQ(
      "metainfo: torrent of " + std::to_string(bytes.size()) + " bytes exceeds the limit of 50",
      small.error().message);
  EXPECT_EQ(std::errc::value_too_large, static_cast<std::errc>(small.error().code.value()));

  using L = Value::List;
  L files;
  for (int i = 0; i < 3; ++i) {
    files.push_back(
        Value(Value::Dict{{"path", Value(L{Value(std::to_string(i))})}, {"length", Value(1)}}));
  }
  Value::Dict info{{"name", Value("t")},
                   {"piece length", Value(16384)},
                   {"pieces", Value(std::string(20, 'h'))},
                   {"files", Value(files)}};
  auto many = parse_metainfo(torrent_with(info), MetainfoLimits{.max_files = 2});
  ASSERT_FALSE(many);
  EXPECT_EQ("metainfo: info.files has 3 entries, more than the limit of 2", many.error().message);
}

TEST(Metainfo, LoadRefusesLargeFilesBeforeReadingThem) {
  const std::string path = ::testing::TempDir() + "/torfs_big.torrent";
  {
    std::ofstream out(path, std::ios::binary);
    out << "d4:info";
    out.seekp(20 * 1024 * 1024);
    out << "e";
  }
  auto m = load_metainfo_file(path);
  ASSERT_FALSE(m);
  EXPECT_EQ(path + ": 20971521 bytes, more than the limit of 10485760 for a .torrent",
            m.error().message);
  std::remove(path.c_str());

  auto missing = load_metainfo_file(kData + "/torrents/does-not-exist.torrent");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message,
              HasSubstr("does-not-exist.torrent: cannot open: No such file"));
  EXPECT_EQ(std::errc::no_such_file_or_directory,
            static_cast<std::errc>(missing.error().code.value()));

  auto dir = load_metainfo_file(kData);
  ASSERT_FALSE(dir);
  EXPECT_EQ(kData + ": is a directory", dir.error().message);
}

TEST(Metainfo, LoadPrefixesParseErrorsWithThePath) {
  const std::string path = kData + "/torrents/bad/negative_size.torrent";
  auto m = load_metainfo_file(path);
  ASSERT_FALSE(m);
  EXPECT_EQ(path + ": metainfo: info.length -1 is negative", m.error().message);
}

}  // namespace
}  // namespace torfs
