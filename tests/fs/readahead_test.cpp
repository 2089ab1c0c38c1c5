#include "fs/readahead.hpp"

#include <gtest/gtest.h>

namespace torfs::fs {
namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB;

TEST(ReadaheadWindow, StartsSmallAndDoublesOnSequentialReads) {
  ReadaheadWindow w({1 * MiB, 8 * MiB});
  EXPECT_EQ(w.on_read(0, 128 * KiB), 1 * MiB);
  EXPECT_EQ(w.on_read(128 * KiB, 128 * KiB), 2 * MiB);
  EXPECT_EQ(w.on_read(256 * KiB, 128 * KiB), 4 * MiB);
  EXPECT_EQ(w.on_read(384 * KiB, 128 * KiB), 8 * MiB);
  EXPECT_EQ(w.on_read(512 * KiB, 128 * KiB), 8 * MiB);  // capped
}

TEST(ReadaheadWindow, ResetsOnSeek) {
  ReadaheadWindow w({1 * MiB, 8 * MiB});
  w.on_read(0, 1 * MiB);
  w.on_read(1 * MiB, 1 * MiB);
  EXPECT_EQ(w.current(), 2 * MiB);
  EXPECT_EQ(w.on_read(500 * MiB, 1 * MiB), 1 * MiB);  // forward seek
  EXPECT_EQ(w.on_read(501 * MiB, 1 * MiB), 2 * MiB);  // sequential again from there
  EXPECT_EQ(w.on_read(10 * MiB, 1 * MiB), 1 * MiB);   // backward seek
}

TEST(ReadaheadWindow, ToleratesReorderedKernelReadahead) {
  ReadaheadWindow w({1 * MiB, 8 * MiB});
  w.on_read(0, 128 * KiB);
  w.on_read(256 * KiB, 128 * KiB);  // arrived before the one at 128 KiB
  const auto before = w.current();
  EXPECT_EQ(w.on_read(128 * KiB, 128 * KiB), before);  // behind: no growth, no reset
  EXPECT_EQ(w.on_read(384 * KiB, 128 * KiB), before * 2);
}

TEST(ReadaheadWindow, RereadingTheSameRangeDoesNotGrow) {
  ReadaheadWindow w({1 * MiB, 8 * MiB});
  w.on_read(0, 64 * KiB);
  EXPECT_EQ(w.on_read(0, 64 * KiB), 1 * MiB);
}

TEST(ReadaheadWindow, WindowsAreIndependent) {
  ReadaheadWindow a({1 * MiB, 8 * MiB}), b({1 * MiB, 8 * MiB});
  a.on_read(0, 1 * MiB);
  a.on_read(1 * MiB, 1 * MiB);
  a.on_read(2 * MiB, 1 * MiB);
  b.on_read(100 * MiB, 1 * MiB);
  b.on_read(3 * MiB, 1 * MiB);
  EXPECT_EQ(a.current(), 4 * MiB);
  EXPECT_EQ(b.current(), 1 * MiB);
}

}  // namespace
}  // namespace torfs::fs
