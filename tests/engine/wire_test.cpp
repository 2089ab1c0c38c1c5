#include "engine/wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace torfs::wire {
namespace {

std::string msg(std::initializer_list<unsigned char> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

TEST(WireHandshake, RoundTripAndFlags) {
  Handshake hs;
  hs.set_fast();
  hs.set_extensions();
  hs.info_hash.fill(0xAB);
  hs.peer_id.fill('p');
  char buf[kHandshakeSize];
  write_handshake(hs, buf);
  EXPECT_EQ(buf[0], 19);
  EXPECT_EQ(std::string_view(buf + 1, 19), "BitTorrent protocol");
  EXPECT_EQ(static_cast<unsigned char>(buf[25]), 0x10);
  EXPECT_EQ(static_cast<unsigned char>(buf[27]), 0x04);
  auto parsed = parse_handshake(std::string_view(buf, sizeof buf));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->supports_fast());
  EXPECT_TRUE(parsed->supports_extensions());
  EXPECT_FALSE(parsed->supports_dht());
  EXPECT_EQ(parsed->info_hash, hs.info_hash);
  EXPECT_EQ(parsed->peer_id, hs.peer_id);
}

TEST(WireHandshake, RejectsOtherProtocols) {
  char buf[kHandshakeSize];
  write_handshake(Handshake{}, buf);
  std::string bad(buf, sizeof buf);
  bad[0] = 0x5c;  // e.g. the first byte of an MSE public key
  EXPECT_FALSE(handshake_prefix_valid(bad.substr(0, 1)));
  EXPECT_FALSE(parse_handshake(bad));
  std::string bad2(buf, sizeof buf);
  bad2[5] = 'x';
  EXPECT_FALSE(handshake_prefix_valid(bad2.substr(0, 20)));
  EXPECT_FALSE(parse_handshake(bad2));
  EXPECT_TRUE(handshake_prefix_valid(std::string_view(buf, 7)));
  EXPECT_FALSE(parse_handshake(std::string_view(buf, 67)));
}

TEST(WireParse, NeedsMoreUntilComplete) {
  char buf[kRequestSize];
  write_request(buf, MsgType::request, 1, 16384, 16384);
  Message m;
  for (std::size_t n = 0; n < 4; ++n) {
    auto r = parse_message(std::string_view(buf, n), m);
    EXPECT_EQ(r.status, ParseStatus::need_more);
    EXPECT_EQ(r.size, 4u);
  }
  auto partial = parse_message(std::string_view(buf, 10), m);
  EXPECT_EQ(partial.status, ParseStatus::need_more);
  EXPECT_EQ(partial.size, kRequestSize);
  auto r = parse_message(std::string_view(buf, sizeof buf), m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.size, kRequestSize);
  EXPECT_EQ(m.type, MsgType::request);
  EXPECT_EQ(m.index, 1u);
  EXPECT_EQ(m.begin, 16384u);
  EXPECT_EQ(m.length, 16384u);
}

TEST(WireParse, AllSimpleMessagesRoundTrip) {
  for (MsgType t : {MsgType::choke, MsgType::unchoke, MsgType::interested, MsgType::not_interested,
                    MsgType::have_all, MsgType::have_none}) {
    char buf[kSimpleSize];
    ASSERT_EQ(write_simple(buf, t), kSimpleSize);
    Message m;
    auto r = parse_message(std::string_view(buf, sizeof buf), m);
    ASSERT_EQ(r.status, ParseStatus::ok) << to_string(t);
    EXPECT_EQ(m.type, t);
  }
  for (MsgType t : {MsgType::have, MsgType::suggest, MsgType::allowed_fast}) {
    char buf[kHaveSize];
    write_have(buf, t, 0x01020304);
    Message m;
    ASSERT_EQ(parse_message(std::string_view(buf, sizeof buf), m).status, ParseStatus::ok);
    EXPECT_EQ(m.type, t);
    EXPECT_EQ(m.index, 0x01020304u);
  }
  char ka[4];
  write_keep_alive(ka);
  Message m;
  auto r = parse_message(std::string_view(ka, 4), m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(m.type, MsgType::keep_alive);
  char port[kPortSize];
  write_port(port, 6881);
  ASSERT_EQ(parse_message(std::string_view(port, sizeof port), m).status, ParseStatus::ok);
  EXPECT_EQ(m.port, 6881);
}

TEST(WireParse, PieceAndBitfieldAndExtendedPayloads) {
  std::string piece(kPieceHeaderSize, '\0');
  write_piece_header(piece.data(), 7, 32768, 5);
  piece += "hello";
  piece += "tail";  // the next message's bytes must not be consumed
  Message m;
  auto r = parse_message(piece, m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(r.size, kPieceHeaderSize + 5);
  EXPECT_EQ(m.type, MsgType::piece);
  EXPECT_EQ(m.index, 7u);
  EXPECT_EQ(m.begin, 32768u);
  EXPECT_EQ(m.length, 5u);
  EXPECT_EQ(m.payload, "hello");

  std::string bf(5, '\0');
  write_bitfield_header(bf.data(), 2);
  bf += std::string("\xF0\x00", 2);
  ASSERT_EQ(parse_message(bf, m).status, ParseStatus::ok);
  EXPECT_EQ(m.type, MsgType::bitfield);
  EXPECT_EQ(m.payload.size(), 2u);

  std::string ext(6, '\0');
  write_extended_header(ext.data(), 3, 2);
  ext += "de";
  ASSERT_EQ(parse_message(ext, m).status, ParseStatus::ok);
  EXPECT_EQ(m.type, MsgType::extended);
  EXPECT_EQ(m.ext_id, 3);
  EXPECT_EQ(m.payload, "de");
}

TEST(WireParse, RejectsBadSizes) {
  Message m;
  // interested with a payload byte
  EXPECT_EQ(parse_message(msg({0, 0, 0, 2, 2, 0}), m).status, ParseStatus::error);
  // have with 3 bytes
  EXPECT_EQ(parse_message(msg({0, 0, 0, 4, 4, 0, 0, 1}), m).status, ParseStatus::error);
  // request with 8 bytes
  EXPECT_EQ(parse_message(msg({0, 0, 0, 9, 6, 0, 0, 0, 1, 0, 0, 0, 0}), m).status,
            ParseStatus::error);
  // length prefix above the limit, rejected before the body arrives
  auto r = parse_message(msg({0, 0x20, 0, 0}), m);
  EXPECT_EQ(r.status, ParseStatus::error);
  EXPECT_NE(r.error, nullptr);
  // empty bitfield, piece without data, extended without id
  EXPECT_EQ(parse_message(msg({0, 0, 0, 1, 5}), m).status, ParseStatus::error);
  EXPECT_EQ(parse_message(msg({0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0}), m).status,
            ParseStatus::error);
  EXPECT_EQ(parse_message(msg({0, 0, 0, 1, 20}), m).status, ParseStatus::error);
}

TEST(WireParse, RequestBlockLengthLimited) {
  char buf[kRequestSize];
  Message m;
  write_request(buf, MsgType::request, 0, 0, 16385);
  EXPECT_EQ(parse_message(std::string_view(buf, sizeof buf), m).status, ParseStatus::error);
  write_request(buf, MsgType::request, 0, 0, 0);
  EXPECT_EQ(parse_message(std::string_view(buf, sizeof buf), m).status, ParseStatus::error);
  write_request(buf, MsgType::reject, 0, 0, 16384);
  EXPECT_EQ(parse_message(std::string_view(buf, sizeof buf), m).status, ParseStatus::ok);
}

TEST(WireParse, MaxLengthAcceptedAndUnknownIgnored) {
  std::string big(4 + kMaxMessageLength, '\0');
  big[0] = 0;
  big[1] = 0x10;
  big[2] = 0;
  big[3] = 13;
  big[4] = 42;  // unknown id
  Message m;
  auto r = parse_message(big, m);
  ASSERT_EQ(r.status, ParseStatus::ok);
  EXPECT_EQ(m.type, MsgType::unknown);
  EXPECT_EQ(m.raw_id, 42);
  EXPECT_EQ(m.payload.size(), kMaxMessageLength - 1);
}

TEST(WireParse, IndexChecks) {
  Message m;
  m.type = MsgType::have;
  m.index = 10;
  EXPECT_NE(check_indices(m, 10, 1 << 20), nullptr);
  m.index = 9;
  EXPECT_EQ(check_indices(m, 10, 1 << 20), nullptr);
  m.type = MsgType::request;
  m.begin = 16384;
  m.length = 16384;
  EXPECT_EQ(check_indices(m, 10, 32768), nullptr);
  EXPECT_NE(check_indices(m, 10, 32767), nullptr);
  m.begin = 0xFFFFFFFF;
  m.length = 2;
  EXPECT_NE(check_indices(m, 10, 32768), nullptr);
  m.type = MsgType::bitfield;
  EXPECT_EQ(check_indices(m, 10, 32768), nullptr);
}

TEST(WireExtension, HandshakeRoundTrip) {
  ExtensionHandshake hs;
  hs.m = {{"ut_metadata", 2}, {"ut_pex", 1}};
  hs.client = "torfs 0.1";
  hs.listen_port = 6881;
  hs.reqq = 500;
  hs.metadata_size = 12345;
  const std::string enc = encode_extension_handshake(hs);
  auto dec = decode_extension_handshake(enc);
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_EQ(dec->id_of("ut_metadata"), 2);
  EXPECT_EQ(dec->id_of("ut_pex"), 1);
  EXPECT_FALSE(dec->id_of("lt_donthave"));
  EXPECT_EQ(dec->client, "torfs 0.1");
  EXPECT_EQ(dec->listen_port, 6881);
  EXPECT_EQ(dec->reqq, 500u);
  EXPECT_EQ(dec->metadata_size, 12345u);
}

TEST(WireExtension, LenientAboutJunkStrictAboutBounds) {
  auto dec = decode_extension_handshake(
      "d1:md4:ut_xi0e6:ut_bad3:abc4:ut_yi300e4:ut_zi7ee"
      "1:pi70000e4:reqqi99999e1:v3:abce");
  ASSERT_TRUE(dec) << dec.error().message;
  EXPECT_FALSE(dec->id_of("ut_x"));  // 0 = disabled
  EXPECT_FALSE(dec->id_of("ut_y"));  // out of range
  EXPECT_EQ(dec->id_of("ut_z"), 7);
  EXPECT_FALSE(dec->listen_port);
  EXPECT_EQ(dec->reqq, 65535u);
  EXPECT_FALSE(decode_extension_handshake("d13:metadata_sizei99999999999ee"));
  EXPECT_FALSE(decode_extension_handshake("li1ee"));
  EXPECT_FALSE(decode_extension_handshake("d1:m"));
}

}  // namespace
}  // namespace torfs::wire
