#include "engine/ut_metadata.hpp"

#include <gtest/gtest.h>

#include <string>

namespace torfs::ut_metadata {
namespace {

TEST(UtMetadata, PieceArithmetic) {
  EXPECT_EQ(num_pieces(0), 0u);
  EXPECT_EQ(num_pieces(1), 1u);
  EXPECT_EQ(num_pieces(kPieceSize), 1u);
  EXPECT_EQ(num_pieces(kPieceSize + 1), 2u);
  EXPECT_EQ(piece_size(kPieceSize + 5, 0), kPieceSize);
  EXPECT_EQ(piece_size(kPieceSize + 5, 1), 5u);
  EXPECT_EQ(piece_size(kPieceSize + 5, 2), 0u);
}

TEST(UtMetadata, RequestAndRejectRoundTrip) {
  EXPECT_EQ(encode_request(3), "d8:msg_typei0e5:piecei3ee");
  auto r = parse(encode_request(3));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->type, MsgType::request);
  EXPECT_EQ(r->piece, 3u);
  auto j = parse(encode_reject(7));
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->type, MsgType::reject);
  EXPECT_EQ(j->piece, 7u);
}

TEST(UtMetadata, DataCarriesRawBytesAfterTheDict) {
  const std::string blob(kPieceSize + 100, 'x');
  const std::string msg = encode_data(1, blob.size(), std::string_view(blob).substr(kPieceSize));
  EXPECT_EQ(msg.rfind("d8:msg_typei1e5:piecei1e10:total_sizei16484ee", 0), 0u);
  auto r = parse(msg);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->type, MsgType::data);
  EXPECT_EQ(r->total_size, blob.size());
  EXPECT_EQ(r->data, std::string(100, 'x'));
}

TEST(UtMetadata, RejectsMalformedAndOversized) {
  EXPECT_FALSE(parse("garbage"));
  EXPECT_FALSE(parse("le"));
  EXPECT_FALSE(parse("d5:piecei0ee"));                  // no msg_type
  EXPECT_FALSE(parse("d8:msg_typei0ee"));               // no piece
  EXPECT_FALSE(parse("d8:msg_typei5e5:piecei0ee"));     // unknown type
  EXPECT_FALSE(parse("d8:msg_typei0e5:piecei-1ee"));    // negative piece
  EXPECT_FALSE(parse("d8:msg_typei0e5:piecei0eexx"));   // bytes after a request
  EXPECT_FALSE(parse("d8:msg_typei1e5:piecei0eeabc"));  // data without total_size
  // total_size above the cap
  EXPECT_FALSE(parse("d8:msg_typei1e5:piecei0e10:total_sizei999999999eeabc"));
  // piece beyond total_size, and a wrong byte count
  EXPECT_FALSE(parse("d8:msg_typei1e5:piecei1e10:total_sizei3eeabc"));
  EXPECT_FALSE(parse("d8:msg_typei1e5:piecei0e10:total_sizei4eeabc"));
  const auto too_big = encode_data(0, kPieceSize, std::string(kPieceSize + 2000, 'a'));
  auto r = parse(too_big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::value_too_large);
}

TEST(UtMetadata, AnswerRequestServesPiecesAndRejectsOutOfRange) {
  const std::string info(2 * kPieceSize + 10, 'i');
  auto last = parse(answer_request(info, 2));
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(last->type, MsgType::data);
  EXPECT_EQ(last->data.size(), 10u);
  auto out = parse(answer_request(info, 3));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->type, MsgType::reject);
}

TEST(UtMetadata, AssemblerVerifiesAndResetsOnMismatch) {
  std::string blob(kPieceSize * 2 + 1, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>(i * 7);
  const Sha1Hash hash = sha1(blob);
  Assembler a;
  EXPECT_FALSE(a.reset(0));
  EXPECT_FALSE(a.reset(kMaxMetadataSize + 1));
  ASSERT_TRUE(a.reset(blob.size()));
  EXPECT_EQ(a.missing(), 3u);
  const std::string_view b(blob);
  EXPECT_NE(a.add(0, blob.size() + 1, b.substr(0, kPieceSize)), nullptr);  // wrong total
  EXPECT_NE(a.add(3, blob.size(), b.substr(0, 1)), nullptr);               // out of range
  EXPECT_NE(a.add(2, blob.size(), b.substr(0, 2)), nullptr);               // wrong length
  EXPECT_EQ(a.add(2, blob.size(), b.substr(2 * kPieceSize)), nullptr);
  EXPECT_EQ(a.next_missing(1), 1u);
  EXPECT_EQ(a.add(0, blob.size(), b.substr(0, kPieceSize)), nullptr);
  EXPECT_EQ(a.add(0, blob.size(), b.substr(0, kPieceSize)), nullptr);  // duplicate ignored
  EXPECT_FALSE(a.complete());
  // Corrupt piece 1: verify fails and everything is fetched again.
  EXPECT_EQ(a.add(1, blob.size(), std::string(kPieceSize, 'z')), nullptr);
  ASSERT_TRUE(a.complete());
  EXPECT_FALSE(a.verify(hash));
  EXPECT_EQ(a.missing(), 3u);
  for (std::uint32_t p = 0; p < 3; ++p)
    EXPECT_EQ(a.add(p, blob.size(), b.substr(p * kPieceSize, piece_size(blob.size(), p))), nullptr);
  EXPECT_TRUE(a.verify(hash));
  EXPECT_EQ(a.bytes(), blob);
  EXPECT_FALSE(a.next_missing());
}

}  // namespace
}  // namespace torfs::ut_metadata
