// BitTorrent Message Stream Encryption / Protocol Encryption (MSE/PE, the Vuze/libtorrent spec):
// a 768-bit Diffie-Hellman exchange, RC4 keys derived from the shared secret and the torrent's
// info-hash, and a negotiation of plaintext or RC4 for the rest of the connection.
//
// Pure: no sockets. The handshake sides are bounded state machines: the network code feeds them
// the bytes it read and sends whatever take_output() returns, until done() or an error. Every
// length the peer controls is bounded (pads <= 512 bytes, the synchronisation searches <= 628
// bytes, IA < 64 KiB), so a hostile peer cannot make them buffer more than about 70 KiB.
//
// Wire format (A = initiator, B = receiver; S = DH secret, SKEY = info-hash; ENCRYPT with RC4
// keyed SHA1("keyA"|S|SKEY) for A->B and SHA1("keyB"|S|SKEY) for B->A, 1024 bytes discarded):
//   A->B: Ya, PadA
//   B->A: Yb, PadB
//   A->B: SHA1("req1"|S), SHA1("req2"|SKEY) xor SHA1("req3"|S),
//         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//   B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), then payload
// Not thread-safe; one object per connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cache/result.hpp"
#include "cache/sha1.hpp"

namespace torfs::mse {

inline constexpr std::size_t kKeySize = 96;  // Ya, Yb, S: 768-bit big-endian
inline constexpr std::size_t kMaxPad = 512;
inline constexpr std::size_t kMaxInitialPayload = 65535;  // len(IA) is 16 bits
// The spec's bound on the synchronisation search: the receiver must find SHA1("req1"|S) within
// this many bytes from the start of the stream (Ya + PadA + 20).
inline constexpr std::size_t kReceiverSyncLimit = kKeySize + kMaxPad + 20;  // 628
inline constexpr std::size_t kInitiatorSyncLimit = kKeySize + kMaxPad + 8;  // Yb + PadB + VC

// crypto_provide / crypto_select bits.
inline constexpr std::uint32_t kPlaintext = 0x01;
inline constexpr std::uint32_t kRc4 = 0x02;

// RC4 keystream. apply() XORs in place: the same call encrypts and decrypts.
class Rc4 {
 public:
  explicit Rc4(std::span<const std::uint8_t> key);  // 1..256 bytes (empty: one zero byte)
  void apply(char* data, std::size_t n) { apply(reinterpret_cast<std::uint8_t*>(data), n); }
  void apply(std::uint8_t* data, std::size_t n);
  void discard(std::size_t n);

 private:
  std::array<std::uint8_t, 256> s_{};
  std::uint8_t i_ = 0, j_ = 0;
};

using DhKey = std::array<std::uint8_t, kKeySize>;

// Our half of the exchange: a random 160-bit private exponent and G^x mod P.
class DhKeyPair {
 public:
  DhKeyPair();  // random private key (OpenSSL RAND_bytes)
  explicit DhKeyPair(const std::array<std::uint8_t, 20>& private_key);  // tests, fuzzing
  const DhKey& public_key() const { return public_key_; }
  // S = Y^x mod P. Rejects Y outside 2 .. P-2 (a peer forcing S = 0, 1 or P-1).
  Result<DhKey> shared_secret(const DhKey& peer_public) const;

 private:
  std::array<std::uint8_t, 20> private_key_{};
  DhKey public_key_{};
};

// SHA1(label | S | SKEY) ("keyA" / "keyB"), the RC4 cipher keyed by it with 1024 bytes gone.
Rc4 make_cipher(std::string_view label, const DhKey& secret, const Sha1Hash& skey);
// SHA1("req2" | info_hash): what a receiver matches the initiator's obfuscated hash against.
Sha1Hash req2_hash(const Sha1Hash& info_hash);

// What a finished handshake leaves for the connection.
struct Established {
  std::uint32_t method = 0;    // kPlaintext or kRc4
  std::optional<Rc4> encrypt;  // set iff method == kRc4: for everything we send from now on
  std::optional<Rc4> decrypt;  // set iff method == kRc4: for everything we receive
  Sha1Hash info_hash{};        // SKEY
  std::string payload;         // received bytes beyond the handshake, already decrypted
};

// Testing hooks: fixed private key and pad lengths make runs reproducible.
struct Options {
  std::optional<std::array<std::uint8_t, 20>> private_key;
  std::optional<std::size_t> pad_length;  // our PadA/PadB/PadC/PadD length (<= kMaxPad)
};

// Shared feed/output machinery of both sides.
class HandshakeBase {
 public:
  // Consumes bytes received from the peer. An error is final (the connection must close).
  // Bytes beyond the end of the handshake go to Established::payload.
  Result<void> feed(std::string_view data);
  // Bytes to send to the peer now (may be empty). Ownership passes to the caller.
  std::string take_output();
  bool done() const { return done_; }
  // Valid once done(); moves the result out.
  Established take_result() { return std::move(result_); }

 protected:
  explicit HandshakeBase(const Options& options);
  virtual ~HandshakeBase() = default;
  // Processes in_ from position 0 as far as possible; removes what it consumed.
  virtual Result<void> step() = 0;
  std::string random_pad() const;  // a PadX of random (or Options) length
  // Finds `pattern` in in_ at or after `from`; erases everything before its end on success.
  // Fails once the pattern cannot start within `limit` bytes of the stream start.
  Result<bool> sync(std::string_view pattern, std::size_t limit, const char* what);
  // Takes `n` bytes from the front of in_, decrypted; nullopt while fewer have arrived.
  std::optional<std::string> take_decrypted(std::size_t n);
  // Takes the peer's 96-byte public key from the front of in_ and computes secret_.
  Result<void> take_public_key();
  void finish(std::uint32_t method);

  Options options_;
  DhKeyPair key_;
  std::string in_;
  std::string out_;
  std::size_t consumed_ = 0;  // bytes already erased from the front of in_ (sync bounds)
  std::string pattern_;       // what the synchronisation search looks for
  DhKey secret_{};
  std::optional<Rc4> encrypt_, decrypt_;
  Established result_;
  bool done_ = false;
  bool failed_ = false;
};

// Side A: the connecting peer, which knows the info-hash.
class Initiator : public HandshakeBase {
 public:
  // `provide`: kPlaintext and/or kRc4. `initial_payload` (IA) is sent RC4-encrypted with the
  // third message; one longer than kMaxInitialPayload is not sent at all. Output: Ya + PadA.
  Initiator(const Sha1Hash& info_hash, std::uint32_t provide, std::string initial_payload = {},
            const Options& options = {});

 private:
  enum class State { wait_yb, sync_vc, select, pad_d };
  Result<void> step() override;
  Result<void> on_yb();

  std::uint32_t provide_;
  std::string initial_payload_;
  State state_ = State::wait_yb;
  std::uint32_t selected_ = 0;
  std::size_t pad_d_ = 0;
};

// Side B: the accepting peer, which learns the info-hash from the handshake.
class Receiver : public HandshakeBase {
 public:
  // Maps SHA1("req2"|info_hash) to an info-hash we serve (see req2_hash), or nullopt.
  using Lookup = std::function<std::optional<Sha1Hash>(const Sha1Hash& req2)>;
  // `allowed`: kPlaintext and/or kRc4 we accept; `prefer_rc4` picks RC4 when both are
  // offered and allowed (else plaintext). Output: nothing until Ya arrived.
  Receiver(Lookup lookup, std::uint32_t allowed, bool prefer_rc4, const Options& options = {});

 private:
  enum class State { wait_ya, sync_req1, skey, provide, pad_c, ia_length, ia };
  Result<void> step() override;
  Result<void> on_skey();
  Result<void> on_provide(std::string_view block);
  void answer();

  Lookup lookup_;
  std::uint32_t allowed_;
  bool prefer_rc4_;
  State state_ = State::wait_ya;
  std::uint32_t selected_ = 0;
  std::size_t pad_c_ = 0;
  std::size_t ia_length_ = 0;
};

}  // namespace torfs::mse
