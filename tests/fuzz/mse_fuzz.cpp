// Fuzzes the MSE/PE handshake state machines (engine/mse.hpp) with foreign bytes, fed in chunks
// as a socket would. The first input byte picks the mode and the chunk size:
//   0: raw bytes to a receiver          1: raw bytes to an initiator
//   2: a real initiator's Ya and hashes, then the fuzz input as the decrypted rest of its
//      third message (VC, crypto_provide, PadC, IA ...), so the deep receiver states are reached
//   3: a real receiver's Yb, then the fuzz input as the decrypted answer (VC, crypto_select,
//      PadD, payload) to an initiator
// Fixed private keys keep runs reproducible. Invariants: a finished handshake selected exactly
// one method, has ciphers iff RC4, and its payload is no larger than the input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/mse.hpp"

using namespace torfs;
using namespace torfs::mse;

namespace {

const Sha1Hash kInfoHash = sha1("mse fuzz torrent");

Options fixed(std::uint8_t seed) {
  Options o;
  std::array<std::uint8_t, 20> key{};
  key.fill(seed);
  o.private_key = key;
  o.pad_length = 0;
  return o;
}

std::string_view view(const DhKey& k) {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}

void check(HandshakeBase& side, std::string_view data, std::size_t chunk, std::size_t extra) {
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    if (!side.feed(data.substr(off, chunk))) {
      if (side.feed("x")) __builtin_trap();  // failure must be final
      return;
    }
    side.take_output();
  }
  if (!side.done()) return;
  const Established e = side.take_result();
  if (e.method != kPlaintext && e.method != kRc4) __builtin_trap();
  if (e.encrypt.has_value() != (e.method == kRc4)) __builtin_trap();
  if (e.payload.size() > data.size() + extra) __builtin_trap();
}

Receiver make_receiver() {
  return Receiver(
      [](const Sha1Hash& req2) -> std::optional<Sha1Hash> {
        if (req2 == req2_hash(kInfoHash)) return kInfoHash;
        return std::nullopt;
      },
      kPlaintext | kRc4, true, fixed(2));
}

// The fuzz input, encrypted as the initiator would, behind a genuine Ya + req1 + req2^req3.
void deep_receiver(std::string_view data, std::size_t chunk) {
  Receiver b = make_receiver();
  Initiator a(kInfoHash, kPlaintext | kRc4, {}, fixed(1));
  const std::string ya = a.take_output();
  if (!b.feed(ya)) __builtin_trap();
  const std::string yb = b.take_output();
  if (!a.feed(yb.substr(0, kKeySize))) __builtin_trap();
  DhKey their;
  std::memcpy(their.data(), yb.data(), kKeySize);
  const DhKey s = *DhKeyPair(*fixed(1).private_key).shared_secret(their);
  std::string tail(data);
  make_cipher("keyA", s, kInfoHash).apply(tail.data(), tail.size());
  check(b, a.take_output().substr(0, 40) + tail, chunk, 0);
}

// The fuzz input, encrypted as a receiver would, behind a genuine Yb.
void deep_initiator(std::string_view data, std::size_t chunk) {
  Initiator a(kInfoHash, kPlaintext | kRc4, "IA", fixed(1));
  DhKey their;
  std::memcpy(their.data(), a.take_output().data(), kKeySize);
  const DhKeyPair b(*fixed(2).private_key);
  const DhKey s = *b.shared_secret(their);
  std::string tail(data);
  make_cipher("keyB", s, kInfoHash).apply(tail.data(), tail.size());
  check(a, std::string(view(b.public_key())) + tail, chunk, 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t chunk = 1 + (data[0] >> 2) * 37;
  switch (data[0] & 3) {
    case 0: {
      Receiver b = make_receiver();
      check(b, input, chunk, 0);
      break;
    }
    case 1: {
      Initiator a(kInfoHash, kPlaintext | kRc4, {}, fixed(1));
      check(a, input, chunk, 0);
      break;
    }
    case 2:
      deep_receiver(input, chunk);
      break;
    default:
      deep_initiator(input, chunk);
      break;
  }
  return 0;
}
