#include "engine/bitfield.hpp"

#include <gtest/gtest.h>

#include <string>

namespace torfs {
namespace {

TEST(Bitfield, StartsEmptyAndCounts) {
  Bitfield b(10);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(b.byte_size(), 2u);
  EXPECT_TRUE(b.none());
  b.set(0);
  b.set(9);
  b.set(9);
  EXPECT_EQ(b.count(), 2u);
  EXPECT_TRUE(b.get(0));
  EXPECT_TRUE(b[9]);
  EXPECT_FALSE(b.get(5));
  b.clear(0);
  b.clear(0);
  EXPECT_EQ(b.count(), 1u);
}

TEST(Bitfield, WireOrderIsHighBitFirst) {
  Bitfield b(12);
  b.set(0);
  b.set(7);
  b.set(8);
  ASSERT_EQ(b.byte_size(), 2u);
  EXPECT_EQ(b.bytes()[0], 0x81);
  EXPECT_EQ(b.bytes()[1], 0x80);
}

TEST(Bitfield, SetAllLeavesSpareBitsZero) {
  Bitfield b(10, true);
  EXPECT_TRUE(b.all());
  EXPECT_EQ(b.count(), 10u);
  EXPECT_EQ(b.bytes()[0], 0xFF);
  EXPECT_EQ(b.bytes()[1], 0xC0);
  b.clear_all();
  EXPECT_TRUE(b.none());
}

TEST(Bitfield, FromWireRoundTrips) {
  const std::string wire("\xA5\xC0", 2);
  auto b = Bitfield::from_wire(wire, 10);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->count(), 6u);
  EXPECT_TRUE(b->get(0));
  EXPECT_FALSE(b->get(1));
  EXPECT_TRUE(b->get(9));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->bytes().data()), b->byte_size()), wire);
}

TEST(Bitfield, FromWireRejectsWrongSizeAndSpareBits) {
  EXPECT_FALSE(Bitfield::from_wire(std::string("\xFF", 1), 10));
  EXPECT_FALSE(Bitfield::from_wire(std::string("\xFF\xC0\x00", 3), 10));
  EXPECT_FALSE(Bitfield::from_wire(std::string("\xFF\xE0", 2), 10));  // spare bit 10 set
  EXPECT_TRUE(Bitfield::from_wire(std::string("\xFF\xFF", 2), 16));
  EXPECT_TRUE(Bitfield::from_wire(std::string(), 0));
}

TEST(Bitfield, Equality) {
  Bitfield a(9), b(9);
  a.set(3);
  EXPECT_FALSE(a == b);
  b.set(3);
  EXPECT_TRUE(a == b);
}

}  // namespace
}  // namespace torfs
