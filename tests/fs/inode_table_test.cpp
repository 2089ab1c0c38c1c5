#include "fs/inode_table.hpp"

#include <gtest/gtest.h>

#include "tests/common/test_util.hpp"

namespace torfs::fs {
namespace {

FileLayout layout_of(std::vector<FileEntry> files) {
  return FileLayout::create(std::move(files), 16384).value();
}

FileEntry file(std::string path, std::uint64_t size, bool pad = false) {
  return testing::entry(std::move(path), size, pad);
}

std::vector<std::string> names(const InodeTable& t, Ino dir) {
  std::vector<std::string> out;
  for (Ino c : t.node(dir)->children)
    out.push_back(t.node(c)->name);
  return out;
}

TEST(InodeTable, SingleFileTorrentHasTheFileAtTheRoot) {
  InodeTable t(layout_of({file("movie.mkv", 100)}));
  ASSERT_EQ(t.size(), 2u);
  const InodeNode* root = t.node(kRootIno);
  ASSERT_TRUE(root && root->is_dir);
  EXPECT_EQ(root->parent, kRootIno);
  const InodeNode* f = t.child(kRootIno, "movie.mkv");
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->is_dir);
  EXPECT_EQ(f->file, FileIndex(0));
  EXPECT_EQ(t.ino_of(FileIndex(0)), f->ino);
}

TEST(InodeTable, BuildsDirectoriesFromPathsWithStableNumbers) {
  auto layout = layout_of({file("t/b/x", 1), file("t/a", 2), file("t/b/c/y", 3), file("t/b/w", 4)});
  InodeTable t(layout);
  InodeTable again(layout);
  // root, t, b, x, a, c, y, w
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(names(t, kRootIno), (std::vector<std::string>{"t"}));
  const Ino top = t.child(kRootIno, "t")->ino;
  EXPECT_EQ(names(t, top), (std::vector<std::string>{"a", "b"}));
  const InodeNode* b = t.child(top, "b");
  ASSERT_TRUE(b && b->is_dir);
  EXPECT_EQ(names(t, b->ino), (std::vector<std::string>{"c", "w", "x"}));
  EXPECT_EQ(b->subdirs, 1u);
  EXPECT_EQ(t.node(top)->subdirs, 1u);
  EXPECT_EQ(t.node(kRootIno)->subdirs, 1u);
  EXPECT_EQ(t.child(b->ino, "c")->parent, b->ino);
  // Same metainfo, same numbers.
  for (FileIndex f(0); f.value() < 4; ++f)
    EXPECT_EQ(t.ino_of(f), again.ino_of(f));
  // files_below lists files in torrent order.
  EXPECT_EQ(b->files_below, (std::vector<FileIndex>{FileIndex(0), FileIndex(2), FileIndex(3)}));
  EXPECT_EQ(t.node(kRootIno)->files_below.size(), 4u);
}

TEST(InodeTable, HidesPadFilesAndReportsCollisions) {
  InodeTable t(layout_of({file("t/a", 10), file("t/.pad/123", 5, true), file("t/a/b", 1),
                          file("t/d/e", 1), file("t/d", 1)}));
  EXPECT_EQ(t.child(t.child(kRootIno, "t")->ino, ".pad"), nullptr);
  EXPECT_FALSE(t.ino_of(FileIndex(1)).has_value());
  EXPECT_FALSE(t.ino_of(FileIndex(2)).has_value());  // "t/a" is a file
  EXPECT_FALSE(t.ino_of(FileIndex(4)).has_value());  // "t/d" is a directory
  EXPECT_EQ(t.warnings().size(), 2u);
}

TEST(InodeTable, LookupFailsForUnknownNamesAndNonDirectories) {
  InodeTable t(layout_of({file("t/a", 1)}));
  const Ino a = *t.ino_of(FileIndex(0));
  EXPECT_EQ(t.child(kRootIno, "nope"), nullptr);
  EXPECT_EQ(t.child(a, "x"), nullptr);
  EXPECT_EQ(t.node(0), nullptr);
  EXPECT_EQ(t.node(999), nullptr);
}

TEST(InodeTable, CountsLookupsAndForgets) {
  InodeTable t(layout_of({file("t/a", 1)}));
  const Ino a = *t.ino_of(FileIndex(0));
  t.add_lookup(a);
  t.add_lookup(a, 2);
  EXPECT_EQ(t.lookup_count(a), 3u);
  EXPECT_TRUE(t.forget(a, 2));
  EXPECT_EQ(t.lookup_count(a), 1u);
  EXPECT_FALSE(t.forget(a, 5));  // more than looked up: clamped, reported
  EXPECT_EQ(t.lookup_count(a), 0u);
  EXPECT_FALSE(t.forget(12345, 1));
}

TEST(InodeTable, AVolumeIsNumberedFromItsBaseWithoutTheTorrentsTopDirectory) {
  const FileLayout layout =
      layout_of({file("t/a", 1), file("t/.pad/9", 5, true), file("t/d/b", 2)});
  EXPECT_TRUE(InodeTable::all_under(layout, "t"));
  EXPECT_FALSE(InodeTable::all_under(layout_of({file("movie.mkv", 3)}), "movie.mkv"));
  InodeTable t(layout, 1000, true);
  EXPECT_EQ(t.root(), 1000u);
  EXPECT_EQ(names(t, 1000), (std::vector<std::string>{"a", "d"}));
  ASSERT_NE(t.child(1000, "d"), nullptr);
  EXPECT_EQ(t.child(1000, "d")->parent, 1000u);
  EXPECT_EQ(t.node(kRootIno), nullptr);
  EXPECT_EQ(t.node(999), nullptr);
  EXPECT_EQ(t.node(1000 + t.size()), nullptr);
  for (Ino i = 1000; i < 1000 + t.size(); ++i)
    EXPECT_EQ(t.node(i)->ino, i);
  EXPECT_LE(t.size(), InodeTable::max_nodes(layout));
  EXPECT_EQ(t.node(1000)->files_below.size(), 2u);
  t.add_lookup(*t.ino_of(FileIndex(2)));
  EXPECT_EQ(t.lookup_count(*t.ino_of(FileIndex(2))), 1u);
}

}  // namespace
}  // namespace torfs::fs
