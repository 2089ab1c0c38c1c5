#include "engine/bencode.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace torfs::bencode {
namespace {

using namespace std::string_literals;

// The error message of a decode that must fail (and "" when it unexpectedly succeeds).
std::string error_of(std::string_view input, const Limits& limits = {}) {
  auto doc = decode(input, limits);
  return doc ? std::string() : doc.error().message;
}

std::errc code_of(std::string_view input, const Limits& limits = {}) {
  auto doc = decode(input, limits);
  return doc ? std::errc() : static_cast<std::errc>(doc.error().code.value());
}

TEST(Bencode, DecodesScalars) {
  auto i = decode("i42e");
  ASSERT_TRUE(i) << i.error().message;
  EXPECT_TRUE(i->root().is_int());
  EXPECT_EQ(42, i->root().as_int());

  auto s = decode("4:spam");
  ASSERT_TRUE(s);
  EXPECT_EQ("spam", s->root().as_string());

  auto empty = decode("0:");
  ASSERT_TRUE(empty);
  EXPECT_EQ("", empty->root().as_string());
}

TEST(Bencode, StringsMayHoldAnyBytes) {
  const std::string input("5:a\0b:e", 7);
  auto doc = decode(input);
  ASSERT_TRUE(doc);
  EXPECT_EQ(std::string_view("a\0b:e", 5), doc->root().as_string());
}

TEST(Bencode, DecodesListsAndDictsWithLookups) {
  const std::string input = "d4:listli1ei2e3:abce3:numi-7e3:str3:xyz3:subd1:dd1:ai1eeee";
  auto doc = decode(input);
  ASSERT_TRUE(doc) << doc.error().message;
  const Node root = doc->root();
  ASSERT_TRUE(root.is_dict());
  EXPECT_EQ(4u, root.size());
  EXPECT_EQ("list", root.key_at(0));
  EXPECT_EQ("sub", root.key_at(3));
  EXPECT_EQ(-7, root.value_at(1).as_int());

  auto list = root.find_list("list");
  ASSERT_TRUE(list);
  ASSERT_EQ(3u, list->size());
  EXPECT_EQ(1, list->at(0).as_int());
  EXPECT_EQ(2, list->at(1).as_int());
  EXPECT_EQ("abc", list->at(2).as_string());

  EXPECT_EQ(-7, root.find_int("num"));
  EXPECT_EQ("xyz", root.find_string("str"));
  EXPECT_EQ(1, root.find_dict("sub")->find_dict("d")->find_int("a"));
  // Missing keys and keys of another type are nullopt.
  EXPECT_FALSE(root.find("nope"));
  EXPECT_FALSE(root.find_int("str"));
  EXPECT_FALSE(root.find_string("num"));
  EXPECT_FALSE(root.find_list("sub"));
  EXPECT_FALSE(root.find_dict("list"));
  EXPECT_FALSE(list->find("x"));  // lookups on a list find nothing
}

TEST(Bencode, IteratesElementsAndItemsInInputOrder) {
  auto doc = decode("d1:ali1eli2ei3ee4:e1:be1:bi5ee");
  ASSERT_TRUE(doc) << doc.error().message;
  std::vector<std::string> keys;
  for (const DictItem item : doc->root().items())
    keys.emplace_back(item.key);
  EXPECT_EQ((std::vector<std::string>{"a", "b"}), keys);

  std::vector<std::string> raws;
  for (Node e : doc->root().find_list("a")->elements())
    raws.emplace_back(e.raw());
  EXPECT_EQ((std::vector<std::string>{"i1e", "li2ei3ee", "4:e1:b"}), raws);
  // A value of another type iterates as empty.
  EXPECT_EQ(doc->root().elements().begin(), doc->root().elements().end());
  EXPECT_EQ(doc->root().find("b")->items().begin(), doc->root().find("b")->items().end());
}

TEST(Bencode, RawIsTheExactInputBytesAndOffsetWhereTheyStart) {
  const std::string input = "d4:infod6:lengthi5e4:name1:xe1:zi0ee";
  auto doc = decode(input);
  ASSERT_TRUE(doc);
  auto info = doc->root().find("info");
  ASSERT_TRUE(info);
  EXPECT_EQ("d6:lengthi5e4:name1:xe", info->raw());
  EXPECT_EQ(7u, info->offset());
  EXPECT_EQ(input, doc->root().raw());
}

TEST(Bencode, SixtyFourBitIntegerRange) {
  auto max = decode("i9223372036854775807e");
  ASSERT_TRUE(max);
  EXPECT_EQ(std::numeric_limits<std::int64_t>::max(), max->root().as_int());
  auto min = decode("i-9223372036854775808e");
  ASSERT_TRUE(min);
  EXPECT_EQ(std::numeric_limits<std::int64_t>::min(), min->root().as_int());

  EXPECT_EQ("bencode: integer overflows 64 bits at byte 0", error_of("i9223372036854775808e"));
  EXPECT_EQ("bencode: integer overflows 64 bits at byte 0", error_of("i-9223372036854775809e"));
  EXPECT_EQ("bencode: integer overflows 64 bits at byte 4",
            error_of("li1ei99999999999999999999999ee"));
  EXPECT_EQ(std::errc::value_too_large, code_of("i99999999999999999999e"));
}

TEST(Bencode, RejectsNonCanonicalIntegers) {
  EXPECT_EQ("bencode: integer with leading zero at byte 0", error_of("i03e"));
  EXPECT_EQ("bencode: integer with leading zero at byte 0", error_of("i-03e"));
  EXPECT_EQ("bencode: integer with leading zero at byte 0", error_of("i00e"));
  EXPECT_EQ("bencode: negative zero integer at byte 0", error_of("i-0e"));
  EXPECT_EQ("bencode: integer without digits at byte 0", error_of("ie"));
  EXPECT_EQ("bencode: integer without digits at byte 0", error_of("i-e"));
  EXPECT_EQ("bencode: unexpected byte '+' in integer at byte 1", error_of("i+1e"));
  EXPECT_EQ("bencode: unexpected byte '.' in integer at byte 2", error_of("i1.5e"));
  EXPECT_EQ("bencode: unterminated integer at byte 0", error_of("i12"));
  EXPECT_EQ(std::errc::invalid_argument, code_of("i-0e"));
  // Non-strict mode relaxes key order only, never integers.
  EXPECT_FALSE(decode("i03e", Limits{.strict = false}));
  EXPECT_TRUE(decode("i0e"));
}

TEST(Bencode, RejectsBadStrings) {
  EXPECT_EQ("bencode: string length 5 exceeds the remaining 3 bytes at byte 0", error_of("5:abc"));
  EXPECT_EQ("bencode: string length with leading zero at byte 0", error_of("03:abc"));
  EXPECT_EQ("bencode: unexpected byte 'x' in string length at byte 1", error_of("3x"));
  EXPECT_EQ("bencode: unterminated string length at byte 0", error_of("12"));
}

TEST(Bencode, HugeStringLengthIsRejectedBeforeAnyAllocation) {
  // 20 digits would overflow size_t arithmetic; the prefix is compared with what is left of
  // the input digit by digit, so this fails at once (an allocation of that size would throw).
  EXPECT_EQ(
      "bencode: string length 99999999999999999999999 exceeds the remaining 3 bytes at byte 0",
      error_of("99999999999999999999999:abc"));
  EXPECT_EQ("bencode: string length 18446744073709551616 exceeds the remaining 1 bytes at byte 1",
            error_of("l18446744073709551616:x"));
  // A megabyte of digits is reported with a cut-down number.
  const std::string digits(1'000'000, '9');
  EXPECT_EQ("bencode: string length " + std::string(40, '9') +
                "... exceeds the remaining 0 bytes at byte 0",
            error_of(digits + ":"));
}

TEST(Bencode, RejectsStructuralErrorsWithOffsets) {
  EXPECT_EQ("bencode: unexpected end of input at byte 0", error_of(""));
  EXPECT_EQ("bencode: unexpected end of input at byte 4", error_of("li1e"));
  EXPECT_EQ("bencode: unexpected end of input at byte 1", error_of("d"));
  EXPECT_EQ("bencode: unexpected byte 'x' at byte 1", error_of("lxe"));
  EXPECT_EQ("bencode: unexpected byte 'e' at byte 0", error_of("e"));
  EXPECT_EQ("bencode: dict key is not a string at byte 1", error_of("di1ei2ee"));
  EXPECT_EQ("bencode: dict key is not a string at byte 1", error_of("dlee1:ae"));
  EXPECT_EQ("bencode: dict key 'a' has no value at byte 4", error_of("d1:ae"));
  EXPECT_EQ("bencode: trailing bytes after the value at byte 3", error_of("i1ei2e"));
  EXPECT_EQ("bencode: trailing bytes after the value at byte 2", error_of("le\n"));
}

TEST(Bencode, StrictDictKeysAreSortedAndUnique) {
  EXPECT_EQ("bencode: unsorted dict key 'a' at byte 7", error_of("d1:bi1e1:ai2ee"));
  EXPECT_EQ("bencode: duplicate dict key 'a' at byte 7", error_of("d1:ai1e1:ai2ee"));
  // Keys compare as unsigned bytes: 0xff sorts after 'z'.
  EXPECT_TRUE(decode("d1:zi1e1:\xffi2ee"));
  EXPECT_EQ("bencode: unsorted dict key 'z' at byte 7", error_of("d1:\xffi2e1:zi1ee"));
  // A prefix sorts first.
  EXPECT_TRUE(decode("d1:ai1e2:aai2ee"));
  // Sorting is per dict: an inner dict starts afresh.
  EXPECT_TRUE(decode("d1:bd1:ai1ee1:ci2ee"));
  // Unprintable key bytes are escaped in messages.
  EXPECT_EQ("bencode: duplicate dict key '\\x00' at byte 7",
            error_of(std::string("d1:\0i1e1:\0i2ee", 15)));
}

TEST(Bencode, NonStrictAcceptsUnsortedKeysAndTheFirstDuplicateWins) {
  const Limits lenient{.strict = false};
  auto doc = decode("d1:bi1e1:ai2e1:bi3ee", lenient);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(3u, doc->root().size());
  EXPECT_EQ(1, doc->root().find_int("b"));
  EXPECT_EQ(2, doc->root().find_int("a"));
  // ... and re-encoding produces the canonical form, keeping the first "b".
  EXPECT_EQ("d1:ai2e1:bi1ee", encode(to_value(doc->root())));
  EXPECT_FALSE(doc->canonical());
  EXPECT_TRUE(decode("d1:ai1e1:bi2ee", lenient)->canonical());
  EXPECT_TRUE(decode("d1:ai1e1:bi2ee")->canonical());
  // Trailing bytes are still an error.
  EXPECT_FALSE(decode("i1ex", lenient));
}

TEST(Bencode, AMillionDeepListFailsCleanlyAtTheDepthLimit) {
  const std::string deep(1'000'000, 'l');
  EXPECT_EQ("bencode: nesting deeper than 100 at byte 100", error_of(deep));
  EXPECT_EQ(std::errc::value_too_large, code_of(deep));
  // Exactly at the limit is fine.
  const std::string ok = std::string(100, 'l') + std::string(100, 'e');
  EXPECT_TRUE(decode(ok));
  EXPECT_FALSE(decode(std::string(101, 'l') + std::string(101, 'e')));
  // The decoder itself is not recursive: a raised limit parses the million-deep list.
  const std::string closed = deep + std::string(1'000'000, 'e');
  auto doc = decode(closed, Limits{.max_depth = 2'000'000, .max_tokens = 2'000'000});
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(1u, doc->root().size());
}

TEST(Bencode, TokenAndSizeLimits) {
  EXPECT_TRUE(decode("li1ei2ee", Limits{.max_tokens = 3}));
  EXPECT_EQ("bencode: more than 3 values at byte 7",
            error_of("li1ei2ei3ee", Limits{.max_tokens = 3}));
  EXPECT_EQ(std::errc::value_too_large, code_of("li1ei2ei3ee", Limits{.max_tokens = 3}));
  EXPECT_EQ("bencode: input of 6 bytes exceeds the limit of 5",
            error_of("4:abcd", Limits{.max_size = 5}));
  EXPECT_EQ(std::errc::value_too_large, code_of("4:abcd", Limits{.max_size = 5}));
}

TEST(Bencode, DecodePrefixReportsConsumedBytes) {
  const std::string msg = "d8:msg_typei1e5:piecei0eeRAWDATA";
  std::size_t consumed = 0;
  auto doc = decode_prefix(msg, consumed);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(msg.size() - 7, consumed);
  EXPECT_EQ(1, doc->root().find_int("msg_type"));
  EXPECT_FALSE(decode(msg));
}

TEST(Bencode, EncodesValues) {
  Value::Dict d;
  d["zeta"] = Value(1);
  d["alpha"] = Value(Value::List{Value("x"), Value(std::int64_t{-5}), Value(Value::Dict{})});
  d["mid"] = Value(std::string("a\0b", 3));
  EXPECT_EQ("d5:alphal1:xi-5edee3:mid3:a\0b4:zetai1ee"s, encode(Value(d)));
  EXPECT_EQ("i-9223372036854775808e", encode(Value(std::numeric_limits<std::int64_t>::min())));
  EXPECT_EQ("0:", encode(Value("")));
  EXPECT_EQ("le", encode(Value(Value::List{})));
  std::string out = "prefix:";
  encode_to(Value(7), out);
  EXPECT_EQ("prefix:i7e", out);
}

TEST(Bencode, CanonicalInputRoundTripsByteForByte) {
  for (std::string_view input :
       {"i0e", "i-1e", "0:", "le", "de", "lllleeee", "d1:ad1:bd1:cleeee",
        "d8:announce9:http://x/4:infod6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces0:ee",
        "l4:spami9223372036854775807ei-9223372036854775808ed3:cow3:mooee"}) {
    auto doc = decode(input);
    ASSERT_TRUE(doc) << input << ": " << doc.error().message;
    EXPECT_EQ(input, encode(to_value(doc->root())));
  }
}

}  // namespace
}  // namespace torfs::bencode
