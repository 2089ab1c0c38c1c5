#include "tools/status_report.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "tests/tools/status_fake_view.hpp"

namespace torfs::tools {
namespace {

using testing::StatusFakeView;

constexpr std::uint32_t kPiece = 16384;

// Two files around a pad file: a.bin spans pieces 0..6, the pad fills piece 6, b.bin 7..10.
std::shared_ptr<StatusFakeView> make_view() {
  std::vector<FileEntry> files = {
      {"t/a.bin", 100'000}, {"t/.pad/14688", 7 * kPiece - 100'000, 0, true}, {"t/b.bin", 50'000}};
  return std::make_shared<StatusFakeView>("t", std::move(files), kPiece);
}

MountInfo mount_info() {
  return MountInfo{"/mnt/t", 4242, 6881, 1'700'000'000};
}

TEST(StatusReport, ReportsPiecesFilesAndTransfers) {
  auto view = make_view();
  view->set_have(0);
  view->set_have(1);
  view->set_have(9);
  view->extra.download_rate = 1500.5;
  view->extra.peers = 3;
  view->extra.seeds = 1;
  view->extra.downloaded = 1000;
  view->extra.total_downloaded = 4000;
  view->extra.total_uploaded = 1000;
  const MountStatus s = build_mount_status({{"shown-name", view}}, mount_info());
  ASSERT_EQ(s.torrents.size(), 1u);
  const TorrentStatus& t = s.torrents[0];
  EXPECT_EQ(t.name, "shown-name");
  EXPECT_EQ(t.info_hash, "101112131415161718191a1b1c1d1e1f20212223");
  EXPECT_EQ(t.pieces_total, 11u);
  EXPECT_EQ(t.pieces_have, 3u);
  EXPECT_EQ(t.bitfield, (std::vector<std::uint8_t>{0xc0, 0x40}));
  ASSERT_EQ(t.files.size(), 2u) << "the pad file is left out";
  EXPECT_EQ(t.files[0].path, "t/a.bin");
  EXPECT_EQ(t.files[0].have_bytes, 2 * kPiece);
  EXPECT_EQ(t.files[1].path, "t/b.bin");
  EXPECT_EQ(t.files[1].have_bytes, kPiece);
  EXPECT_EQ(t.peers, 3u);
  EXPECT_EQ(t.seeds, 1u);
  ASSERT_TRUE(t.ratio().has_value());
  EXPECT_DOUBLE_EQ(*t.ratio(), 0.25);
  EXPECT_EQ(s.mount.mountpoint, "/mnt/t");
  EXPECT_GT(s.now, 0);
}

TEST(StatusReport, JsonHasTheDocumentedFieldsAndRoundTrips) {
  auto view = make_view();
  view->set_have(10);
  const MountStatus s = build_mount_status({{"", view}}, mount_info());
  const std::string json = status_to_json(s);
  EXPECT_EQ(json.find('\n'), std::string::npos) << "the wire format is one line";
  for (const char* key :
       {"\"version\":1", "\"mountpoint\":\"/mnt/t\"", "\"pid\":4242", "\"listen_port\":6881",
        "\"started\":1700000000", "\"name\":\"t\"", "\"ratio\":null", "\"pieces\":\"0020\"",
        "\"pieces_have\":1", "\"pieces_total\":11", "\"path\":\"t/b.bin\"", "\"progress\":"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
  auto parsed = parse_status_json(json);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(status_to_json(*parsed), json);
  EXPECT_EQ(status_to_json(*parsed, 2), status_to_json(s, 2));
  EXPECT_FALSE(parsed->torrents[0].ratio().has_value());
  EXPECT_TRUE(parsed->torrents[0].have_piece(10));
  EXPECT_FALSE(parsed->torrents[0].have_piece(9));
  EXPECT_FALSE(parsed->torrents[0].have_piece(11)) << "out of range";
}

TEST(StatusReport, EmptyMountAndEmptyTorrentProgress) {
  const MountStatus s = build_mount_status({}, mount_info());
  auto parsed = parse_status_json(status_to_json(s));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->torrents.empty());
  TorrentStatus t;
  EXPECT_EQ(t.progress(), 1.0);
  t.total_bytes = 200;
  t.have_bytes = 50;
  EXPECT_DOUBLE_EQ(t.progress(), 0.25);
}

std::string valid_json() {
  auto view = make_view();
  view->set_have(3);
  return status_to_json(build_mount_status({{"t", view}}, mount_info()));
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(StatusReport, WebSeedFieldsRoundTripAndDefaultToZeroWhenAbsent) {
  auto view = make_view();
  view->extra.web_seeds = 2;
  view->extra.web_seed_downloaded = 5'000'000'000;  // past 32 bits
  const MountStatus s = build_mount_status({{"t", view}}, mount_info());
  EXPECT_EQ(s.torrents.at(0).web_seeds, 2u);
  const std::string json = status_to_json(s);
  for (const char* key : {"\"web_seeds\":2", "\"web_seed_downloaded\":5000000000"})
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  auto parsed = parse_status_json(json);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->torrents.at(0).web_seeds, 2u);
  EXPECT_EQ(parsed->torrents.at(0).web_seed_downloaded, 5'000'000'000u);
  EXPECT_EQ(status_to_json(*parsed), json);
  // A mount of an earlier torfs sends neither field: still a valid document.
  std::string old = json;
  for (const std::string field : {",\"web_seeds\":2", ",\"web_seed_downloaded\":5000000000"})
    old.erase(old.find(field), field.size());
  auto older = parse_status_json(old);
  ASSERT_TRUE(older) << older.error().message;
  EXPECT_EQ(older->torrents.at(0).web_seeds, 0u);
  EXPECT_EQ(older->torrents.at(0).web_seed_downloaded, 0u);
  // Present but wrong: an error naming the field.
  auto wrong = parse_status_json(replace(json, "\"web_seeds\":2", "\"web_seeds\":-1"));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("torrents[0].web_seeds"), std::string::npos)
      << wrong.error().message;
}

TEST(StatusParse, RejectsWrongTypesNamingTheField) {
  const std::string json = valid_json();
  auto r = parse_status_json(replace(json, "\"peers\":0", "\"peers\":\"0\""));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("torrents[0].peers"), std::string::npos) << r.error().message;
  r = parse_status_json(replace(json, "\"pieces\":\"1000\"", "\"pieces\":\"10\""));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("torrents[0].pieces"), std::string::npos) << r.error().message;
  r = parse_status_json(replace(json, "\"pieces\":\"1000\"", "\"pieces\":\"zz00\""));
  ASSERT_FALSE(r);
  r = parse_status_json(replace(json, "\"version\":1", "\"version\":2"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("version"), std::string::npos);
  r = parse_status_json(replace(json, "\"size\":50000", "\"size\":-5"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("files[1].size"), std::string::npos) << r.error().message;
  r = parse_status_json(replace(json, "\"listen_port\":6881", "\"listen_port\":70000"));
  ASSERT_FALSE(r);
  EXPECT_FALSE(parse_status_json("[]"));
  EXPECT_FALSE(parse_status_json(""));
}

TEST(StatusParse, IgnoresUnknownFields) {
  auto r =
      parse_status_json(replace(valid_json(), "\"now\":", "\"future\":[1,{\"x\":2}],\"now\":"));
  ASSERT_TRUE(r) << r.error().message;
}

TEST(StatusParse, LimitsDepthSizeAndCounts) {
  std::string deep = "{\"version\":1,\"x\":" + std::string(100, '[') + std::string(100, ']') + "}";
  auto r = parse_status_json(deep);
  ASSERT_FALSE(r);
  StatusParseLimits small;
  small.max_bytes = 100;
  EXPECT_FALSE(parse_status_json(valid_json(), small));
  StatusParseLimits few_files;
  few_files.max_files = 1;
  EXPECT_FALSE(parse_status_json(valid_json(), few_files));
}

TEST(StatusParse, EveryTruncationAndRandomCorruptionFailsCleanly) {
  const std::string json = valid_json();
  for (std::size_t n = 0; n < json.size(); ++n) {
    EXPECT_FALSE(parse_status_json(json.substr(0, n))) << n;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = json;
    for (int k = 0; k < 3; ++k)
      bad[rng() % bad.size()] = static_cast<char>(rng());
    auto r = parse_status_json(bad);  // any outcome but a crash; a success must re-serialize
    if (r) {
      EXPECT_FALSE(status_to_json(*r).empty());
    }
  }
}

}  // namespace
}  // namespace torfs::tools
