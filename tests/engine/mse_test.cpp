#include "engine/mse.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace torfs::mse {
namespace {

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string rc4(std::string_view key, std::string data) {
  Rc4 cipher(std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
  cipher.apply(data.data(), data.size());
  return data;
}

Sha1Hash hash_of(std::string_view s) {
  return sha1(s);
}

std::string_view view(const DhKey& k) {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}

// Moves bytes between the two sides, `chunk` at a time, until neither has anything to send.
void pump(HandshakeBase& a, HandshakeBase& b, std::size_t chunk, Result<void>* a_status,
          Result<void>* b_status) {
  for (int rounds = 0; rounds < 10000; ++rounds) {
    const std::string ab = a.take_output();
    const std::string ba = b.take_output();
    if (ab.empty() && ba.empty()) return;
    for (std::size_t off = 0; off < ab.size() && *b_status; off += chunk)
      *b_status = b.feed(std::string_view(ab).substr(off, chunk));
    for (std::size_t off = 0; off < ba.size() && *a_status; off += chunk)
      *a_status = a.feed(std::string_view(ba).substr(off, chunk));
    if (!*a_status || !*b_status) return;
  }
}

Receiver::Lookup lookup_for(const Sha1Hash& served) {
  return [served](const Sha1Hash& req2) -> std::optional<Sha1Hash> {
    if (req2 == req2_hash(served)) return served;
    return std::nullopt;
  };
}

TEST(Rc4, KnownVectors) {
  EXPECT_EQ(hex(rc4("Key", "Plaintext")), "bbf316e8d940af0ad3");
  EXPECT_EQ(hex(rc4("Wiki", "pedia")), "1021bf0420");
  EXPECT_EQ(hex(rc4("Secret", "Attack at dawn")), "45a01f645fc35b383552544b9bf5");
}

TEST(Rc4, DiscardSkipsKeystreamAndApplyIsItsOwnInverse) {
  const std::string key = "0123456789abcdef0123";
  std::string long_run(1030, '\0');
  const std::string stream = rc4(key, long_run);
  Rc4 skipped(std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
  skipped.discard(1024);
  std::string six(6, '\0');
  skipped.apply(six.data(), six.size());
  EXPECT_EQ(six, stream.substr(1024));
  EXPECT_EQ(rc4(key, rc4(key, "round trip")), "round trip");
}

TEST(Dh, BothSidesAgreeOnTheSecret) {
  const DhKeyPair a, b;
  EXPECT_NE(a.public_key(), b.public_key());
  auto sa = a.shared_secret(b.public_key());
  auto sb = b.shared_secret(a.public_key());
  ASSERT_TRUE(sa && sb);
  EXPECT_EQ(*sa, *sb);
}

TEST(Dh, FixedPrivateKeyGivesTheKnownPublicKey) {
  std::array<std::uint8_t, 20> one{};
  one[19] = 1;  // x = 1: Y = 2
  const DhKeyPair k(one);
  DhKey two{};
  two[95] = 2;
  EXPECT_EQ(k.public_key(), two);
}

TEST(Dh, RejectsDegeneratePublicKeys) {
  const DhKeyPair a;
  DhKey y{};
  EXPECT_FALSE(a.shared_secret(y));  // 0
  y[95] = 1;
  EXPECT_FALSE(a.shared_secret(y));  // 1
  DhKey all_ff;
  all_ff.fill(0xff);
  EXPECT_FALSE(a.shared_secret(all_ff));  // above P
  y[95] = 2;
  EXPECT_TRUE(a.shared_secret(y));
}

struct Handshake : ::testing::TestWithParam<std::size_t> {};  // chunk size

TEST_P(Handshake, SelectsRc4AndBothDirectionsDecrypt) {
  const Sha1Hash ih = hash_of("torrent");
  Initiator a(ih, kPlaintext | kRc4, "initial payload");
  Receiver b(lookup_for(ih), kPlaintext | kRc4, /*prefer_rc4=*/true);
  Result<void> sa, sb;
  pump(a, b, GetParam(), &sa, &sb);
  ASSERT_TRUE(sa) << sa.error().message;
  ASSERT_TRUE(sb) << sb.error().message;
  ASSERT_TRUE(a.done() && b.done());
  Established ea = a.take_result(), eb = b.take_result();
  EXPECT_EQ(ea.method, kRc4);
  EXPECT_EQ(eb.method, kRc4);
  EXPECT_EQ(eb.info_hash, ih);
  EXPECT_EQ(eb.payload, "initial payload");
  EXPECT_EQ(ea.payload, "");
  std::string msg = "hello from A";
  ea.encrypt->apply(msg.data(), msg.size());
  EXPECT_NE(msg, "hello from A");
  eb.decrypt->apply(msg.data(), msg.size());
  EXPECT_EQ(msg, "hello from A");
  msg = "and back from B";
  eb.encrypt->apply(msg.data(), msg.size());
  ea.decrypt->apply(msg.data(), msg.size());
  EXPECT_EQ(msg, "and back from B");
}

TEST_P(Handshake, SelectsPlaintextWhenPreferredAndBytesAfterwardsStayPlain) {
  const Sha1Hash ih = hash_of("torrent");
  Initiator a(ih, kPlaintext | kRc4, "IA");
  Receiver b(lookup_for(ih), kPlaintext | kRc4, /*prefer_rc4=*/false);
  Result<void> sa, sb;
  pump(a, b, GetParam(), &sa, &sb);
  ASSERT_TRUE(sa && sb && a.done() && b.done());
  ASSERT_TRUE(a.feed("plain after"));  // once done, more bytes join the payload
  Established ea = a.take_result(), eb = b.take_result();
  EXPECT_EQ(ea.method, kPlaintext);
  EXPECT_FALSE(ea.encrypt || ea.decrypt || eb.encrypt || eb.decrypt);
  EXPECT_EQ(ea.payload, "plain after");
  EXPECT_EQ(eb.payload, "IA");
}

INSTANTIATE_TEST_SUITE_P(Chunks, Handshake, ::testing::Values(1, 7, 100000));

TEST(HandshakeBounds, MaximalPadsStillSynchronise) {
  const Sha1Hash ih = hash_of("t");
  Options opts;
  opts.pad_length = kMaxPad;
  Initiator a(ih, kRc4, {}, opts);
  Receiver b(lookup_for(ih), kRc4, false, opts);
  Result<void> sa, sb;
  pump(a, b, 13, &sa, &sb);
  ASSERT_TRUE(sa && sb);
  EXPECT_TRUE(a.done() && b.done());
}

TEST(HandshakeBounds, ReceiverRefusesAnUnknownInfoHash) {
  Initiator a(hash_of("theirs"), kRc4);
  Receiver b(lookup_for(hash_of("ours")), kRc4, true);
  Result<void> sa, sb;
  pump(a, b, 1000, &sa, &sb);
  ASSERT_FALSE(sb);
  EXPECT_NE(sb.error().message.find("torrent we do not have"), std::string::npos);
  EXPECT_FALSE(b.feed("x"));  // failure is final
}

TEST(HandshakeBounds, NoCommonMethodIsRefused) {
  const Sha1Hash ih = hash_of("t");
  Initiator a(ih, kPlaintext);
  Receiver b(lookup_for(ih), kRc4, true);
  Result<void> sa, sb;
  pump(a, b, 1000, &sa, &sb);
  ASSERT_FALSE(sb);
  EXPECT_NE(sb.error().message.find("no common method"), std::string::npos);
}

TEST(HandshakeBounds, ReceiverGivesUpOnGarbageAfter628Bytes) {
  Receiver b(lookup_for(hash_of("t")), kRc4, true);
  std::string garbage(kReceiverSyncLimit - 1, '\x55');
  garbage[95] = 7;  // a valid public key
  ASSERT_TRUE(b.feed(garbage));
  EXPECT_FALSE(b.done());
  EXPECT_EQ(b.take_output().size() >= kKeySize, true);  // Yb + PadB went out
  auto r = b.feed("z");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("req1"), std::string::npos);
}

TEST(HandshakeBounds, InitiatorGivesUpWithoutVcAfter616Bytes) {
  Initiator a(hash_of("t"), kRc4);
  std::string garbage(kInitiatorSyncLimit, '\x42');
  auto r = a.feed(garbage);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ENCRYPT(VC)"), std::string::npos);
}

TEST(HandshakeBounds, PlainBitTorrentHandshakeIsNotMse) {
  Receiver b(lookup_for(hash_of("t")), kRc4 | kPlaintext, false);
  std::string plain =
      "\x13"
      "BitTorrent protocol";
  plain.resize(68, '\0');
  // 0x13426974... is a valid public key, so Yb goes out; the search then fails in bounds.
  auto r = b.feed(plain + std::string(600, 'x'));
  EXPECT_FALSE(r);
}

TEST(HandshakeBounds, TruncatedInputWaitsWithoutError) {
  const Sha1Hash ih = hash_of("t");
  Initiator a(ih, kRc4);
  Receiver b(lookup_for(ih), kRc4, true);
  const std::string ya = a.take_output();
  ASSERT_TRUE(b.feed(ya));
  const std::string yb = b.take_output();
  ASSERT_TRUE(a.feed(yb));
  const std::string step3 = a.take_output();
  ASSERT_TRUE(b.feed(std::string_view(step3).substr(0, step3.size() - 1)));
  EXPECT_FALSE(b.done());
  EXPECT_TRUE(b.take_output().empty());
  ASSERT_TRUE(b.feed(std::string_view(step3).substr(step3.size() - 1)));
  EXPECT_TRUE(b.done());
}

// A hand-made initiator: Ya (no PadA), req1, req2^req3, then the encrypted block `tail`.
std::string forged_step3(const DhKeyPair& a, const DhKey& yb, const Sha1Hash& ih,
                         std::string tail) {
  const DhKey s = *a.shared_secret(yb);
  Sha1 h;
  h.update("req1");
  h.update(view(s));
  const Sha1Hash req1 = h.finish();
  h.update("req3");
  h.update(view(s));
  const Sha1Hash req3 = h.finish();
  Sha1Hash x = req2_hash(ih);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] ^= req3[i];
  make_cipher("keyA", s, ih).apply(tail.data(), tail.size());
  return std::string(reinterpret_cast<const char*>(req1.data()), 20) +
         std::string(reinterpret_cast<const char*>(x.data()), 20) + tail;
}

// The error a receiver reports for a genuine Ya and hashes followed by `block` (decrypted).
std::string receiver_error_for(const std::string& block) {
  const Sha1Hash ih = hash_of("t");
  const DhKeyPair a;
  Receiver b(lookup_for(ih), kRc4, true);
  if (!b.feed(view(a.public_key()))) return "Ya refused";
  const std::string out = b.take_output();
  DhKey yb;
  std::memcpy(yb.data(), out.data(), kKeySize);
  auto r = b.feed(forged_step3(a, yb, ih, block));
  return r ? std::string("accepted") : r.error().message;
}

TEST(HandshakeBounds, ReceiverRefusesPadCOver512) {
  std::string block(8, '\0');
  block += std::string("\0\0\0\x02\x02\x01", 6);  // provide RC4, PadC = 513
  EXPECT_NE(receiver_error_for(block).find("PadC of 513"), std::string::npos);
}

TEST(HandshakeBounds, ReceiverRefusesAWrongVerificationConstant) {
  const std::string block("\1\0\0\0\0\0\0\0\0\0\0\x02\0\0\0\0", 16);
  EXPECT_NE(receiver_error_for(block).find("verification constant"), std::string::npos);
}

TEST(HandshakeBounds, InitiatorRefusesPadDOver512AndUnofferedMethods) {
  const Sha1Hash ih = hash_of("t");
  for (const auto& [select, pad, expect] :
       {std::tuple{kRc4, 600u, "PadD of 600"}, std::tuple{kPlaintext, 0u, "not one we offered"}}) {
    Initiator a(ih, kRc4);
    const std::string ya = a.take_output();
    DhKey their_ya;
    std::memcpy(their_ya.data(), ya.data(), kKeySize);
    const DhKeyPair b;
    const DhKey s = *b.shared_secret(their_ya);
    std::string answer(8, '\0');
    for (int i = 3; i >= 0; --i)
      answer += static_cast<char>((select >> (8 * i)) & 0xff);
    answer += static_cast<char>(pad >> 8);
    answer += static_cast<char>(pad & 0xff);
    make_cipher("keyB", s, ih).apply(answer.data(), answer.size());
    auto r = a.feed(std::string(view(b.public_key())) + answer);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace torfs::mse
