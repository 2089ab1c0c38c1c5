#include "tools/json_writer.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace torfs::tools {
namespace {

TEST(JsonWriter, CompactObjectWithNestedArray) {
  JsonWriter w;
  w.begin_object().field("name", "a").key("files").begin_array();
  w.begin_object().field("path", "x/y").field("size", std::uint64_t{5}).end_object();
  w.end_array().field("private", false).key("comment").null().end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(w.str(),
            R"({"name":"a","files":[{"path":"x/y","size":5}],"private":false,"comment":null})");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quote("\n\t\r\b\f"), R"("\n\t\r\b\f")");
  EXPECT_EQ(json_quote(std::string_view("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(json_quote(std::string_view("nul\0x", 5)), R"("nul\u0000x")");
}

TEST(JsonWriter, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_quote("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
  // A lone continuation byte, a truncated sequence and an overlong encoding.
  // Each invalid byte becomes the escaped replacement character.
  EXPECT_EQ(json_quote("a\x80z"), R"("a\ufffdz")");
  EXPECT_EQ(json_quote("a\xe2\x82"), R"("a\ufffd\ufffd")");
  EXPECT_EQ(json_quote("\xc0\xaf"), R"("\ufffd\ufffd")");
}

TEST(JsonWriter, Numbers) {
  JsonWriter w;
  w.begin_array()
      .value(std::numeric_limits<std::int64_t>::min())
      .value(std::numeric_limits<std::uint64_t>::max())
      .value(0.5)
      .value(std::numeric_limits<double>::infinity())
      .end_array();
  EXPECT_EQ(w.str(), "[-9223372036854775808,18446744073709551615,0.5,null]");
}

TEST(JsonWriter, IncompleteUntilBalanced) {
  JsonWriter w;
  w.begin_object().key("a").begin_array();
  EXPECT_FALSE(w.complete());
  w.end_array();
  EXPECT_FALSE(w.complete());
  w.end_object();
  EXPECT_TRUE(w.complete());
}

}  // namespace
}  // namespace torfs::tools
