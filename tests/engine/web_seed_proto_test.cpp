#include "engine/web_seed_proto.hpp"
#include "tests/common/test_util.hpp"

#include <gtest/gtest.h>

namespace torfs::web_seed {
namespace {

FileLayout layout_of(std::vector<FileEntry> files, std::uint32_t piece_length = 16384) {
  auto layout = FileLayout::create(std::move(files), piece_length);
  EXPECT_TRUE(layout) << layout.error().message;
  return std::move(*layout);
}

using testing::entry;

TEST(WebSeedProto, SingleFileUrlIsTheBaseOrBasePlusName) {
  const FileLayout l = layout_of({entry("movie file.mkv", 100)});
  EXPECT_EQ("http://h/x.mkv", file_url("http://h/x.mkv", l, FileIndex(0), false));
  EXPECT_EQ("http://h/dir/movie%20file.mkv", file_url("http://h/dir/", l, FileIndex(0), false));
}

TEST(WebSeedProto, MultiFileUrlAppendsNameAndEncodedPathElements) {
  const FileLayout l = layout_of({entry("Album/cd 1/01 #a&b?.flac", 10), entry("Album/ä", 10)});
  EXPECT_EQ("http://h/pub/Album/cd%201/01%20%23a%26b%3F.flac",
            file_url("http://h/pub", l, FileIndex(0), true));
  EXPECT_EQ("http://h/pub/Album/cd%201/01%20%23a%26b%3F.flac",
            file_url("http://h/pub/", l, FileIndex(0), true));
  EXPECT_EQ("http://h/Album/%C3%A4", file_url("http://h/", l, FileIndex(1), true));
}

TEST(WebSeedProto, PlanSplitsASpanAtFileBoundariesAndMarksPadFiles) {
  const FileLayout l =
      layout_of({entry("t/a", 10000), entry("t/.pad/6384", 6384, true), entry("t/b", 40000)});
  const auto plan = plan_fetch("http://h/s/", l, true, 5000, 30000);
  ASSERT_EQ(3u, plan.size());
  EXPECT_EQ("http://h/s/t/a", plan[0].url);
  EXPECT_EQ(5000u, plan[0].file_offset);
  EXPECT_EQ(5000u, plan[0].length);
  EXPECT_EQ(0u, plan[0].buffer_offset);
  EXPECT_EQ("bytes=5000-9999", range_header(plan[0]));
  EXPECT_TRUE(plan[1].pad);
  EXPECT_TRUE(plan[1].url.empty());
  EXPECT_EQ(5000u, plan[1].buffer_offset);
  EXPECT_EQ(6384u, plan[1].length);
  EXPECT_EQ("http://h/s/t/b", plan[2].url);
  EXPECT_EQ(0u, plan[2].file_offset);
  EXPECT_EQ(30000u - 5000 - 6384, plan[2].length);
  EXPECT_EQ(11384u, plan[2].buffer_offset);
  EXPECT_EQ(40000u, plan[2].file_size);
}

TEST(WebSeedProto, ParsesContentRange) {
  auto r = parse_content_range("bytes 0-99/1000");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(0u, r->first);
  EXPECT_EQ(99u, r->last);
  EXPECT_EQ(1000u, r->total.value());
  auto star = parse_content_range(" bytes 100-199/* ");
  ASSERT_TRUE(star) << star.error().message;
  EXPECT_FALSE(star->total);
}

TEST(WebSeedProto, RejectsMalformedContentRange) {
  for (const char* v :
       {"", "bytes", "items 0-1/2", "bytes 5-4/10", "bytes 0-9/9", "bytes -1-2/3", "bytes 0-1",
        "bytes 1/2-3", "bytes 0-99999999999999999999/1", "bytes 0x1-2/3", "bytes 0-1/2/3"}) {
    EXPECT_FALSE(parse_content_range(v)) << v;
  }
}

FileRequest request(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  FileRequest r;
  r.url = "http://h/f";
  r.file_offset = offset;
  r.length = length;
  r.file_size = size;
  return r;
}

TEST(WebSeedProto, AcceptsExactPartialContent) {
  EXPECT_TRUE(check_response({206, "bytes 100-199/1000", 100}, request(100, 100, 1000)));
  EXPECT_TRUE(check_response({206, "bytes 100-199/*", std::nullopt}, request(100, 100, 1000)));
}

TEST(WebSeedProto, RejectsPartialContentThatDoesNotMatch) {
  const auto req = request(100, 100, 1000);
  auto shifted = check_response({206, "bytes 101-200/1000", 100}, req);
  ASSERT_FALSE(shifted);
  EXPECT_NE(std::string::npos, shifted.error().message.find("does not match"));
  EXPECT_FALSE(check_response({206, "bytes 100-199/999", 100}, req));  // another file size
  EXPECT_FALSE(check_response({206, "bytes 100-199/1000", 99}, req));  // short body
  EXPECT_FALSE(check_response({206, std::nullopt, 100}, req));
}

TEST(WebSeedProto, AcceptsStatus200OnlyForAWholeFile) {
  EXPECT_TRUE(check_response({200, std::nullopt, 1000}, request(0, 1000, 1000)));
  auto partial = check_response({200, std::nullopt, 1000}, request(0, 100, 1000));
  ASSERT_FALSE(partial);
  EXPECT_NE(std::string::npos, partial.error().message.find("200"));
}

TEST(WebSeedProto, ErrorStatusesAreNamed) {
  auto missing = check_response({404, std::nullopt, std::nullopt}, request(0, 10, 1000));
  ASSERT_FALSE(missing);
  EXPECT_EQ("HTTP status 404", missing.error().message);
}

}  // namespace
}  // namespace torfs::web_seed
