#include "engine/mse.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <utility>

#include <openssl/bn.h>
#include <openssl/rand.h>

namespace torfs::mse {

namespace {

// The spec's 768-bit safe prime (the Oakley group 1 prime); the generator is 2.
constexpr const char* kPrimeHex =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3621"
    "0000000000090563";

constexpr std::size_t kVcSize = 8;
constexpr std::size_t kDiscard = 1024;

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
  void operator()(BN_CTX* c) const { BN_CTX_free(c); }
};
using Bn = std::unique_ptr<BIGNUM, BnDeleter>;

Bn prime() {
  BIGNUM* p = nullptr;
  BN_hex2bn(&p, kPrimeHex);
  return Bn(p);
}

// base^exponent mod P as 96 big-endian bytes.
DhKey mod_exp(const BIGNUM* base, std::span<const std::uint8_t> exponent) {
  std::unique_ptr<BN_CTX, BnDeleter> ctx(BN_CTX_new());
  Bn p = prime();
  Bn x(BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr));
  Bn r(BN_new());
  DhKey out{};
  if (ctx && p && x && r && BN_mod_exp(r.get(), base, x.get(), p.get(), ctx.get()) == 1)
    BN_bn2binpad(r.get(), out.data(), static_cast<int>(out.size()));
  return out;
}

Error protocol_error(std::string what) {
  return make_error(std::errc::protocol_error, "encrypted handshake (MSE): " + std::move(what));
}

std::string_view bytes(const DhKey& k) {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}
std::string_view bytes(const Sha1Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// SHA1(label | a | b).
Sha1Hash hash3(std::string_view label, std::string_view a, std::string_view b = {}) {
  Sha1 h;
  h.update(label);
  h.update(a);
  h.update(b);
  return h.finish();
}

void put_be(std::string& out, std::uint32_t v, int n) {
  for (int i = n - 1; i >= 0; --i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t get_be(std::string_view in, std::size_t at, int n) {
  std::uint32_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | static_cast<std::uint8_t>(in[at + i]);
  return v;
}

}  // namespace

Rc4::Rc4(std::span<const std::uint8_t> key) {
  static constexpr std::uint8_t kZero = 0;
  if (key.empty()) key = std::span(&kZero, 1);
  for (int k = 0; k < 256; ++k)
    s_[k] = static_cast<std::uint8_t>(k);
  std::uint8_t j = 0;
  for (std::size_t k = 0; k < 256; ++k) {
    j = static_cast<std::uint8_t>(j + s_[k] + key[k % key.size()]);
    std::swap(s_[k], s_[j]);
  }
}

void Rc4::apply(std::uint8_t* data, std::size_t n) {
  std::uint8_t i = i_, j = j_;
  for (std::size_t k = 0; k < n; ++k) {
    i = static_cast<std::uint8_t>(i + 1);
    j = static_cast<std::uint8_t>(j + s_[i]);
    std::swap(s_[i], s_[j]);
    data[k] ^= s_[static_cast<std::uint8_t>(s_[i] + s_[j])];
  }
  i_ = i;
  j_ = j;
}

void Rc4::discard(std::size_t n) {
  std::uint8_t scratch[256];
  while (n > 0) {
    const std::size_t chunk = std::min(n, sizeof scratch);
    apply(scratch, chunk);
    n -= chunk;
  }
}

DhKeyPair::DhKeyPair() {
  if (RAND_bytes(private_key_.data(), static_cast<int>(private_key_.size())) != 1) {
    // No entropy source at all: still a distinct key per connection, just a weaker one.
    std::random_device rd;
    for (auto& b : private_key_)
      b = static_cast<std::uint8_t>(rd());
  }
  Bn g(BN_new());
  BN_set_word(g.get(), 2);
  public_key_ = mod_exp(g.get(), private_key_);
}

DhKeyPair::DhKeyPair(const std::array<std::uint8_t, 20>& private_key) : private_key_(private_key) {
  Bn g(BN_new());
  BN_set_word(g.get(), 2);
  public_key_ = mod_exp(g.get(), private_key_);
}

Result<DhKey> DhKeyPair::shared_secret(const DhKey& peer_public) const {
  Bn y(BN_bin2bn(peer_public.data(), static_cast<int>(peer_public.size()), nullptr));
  Bn p_minus_1 = prime();
  if (!y || !p_minus_1) return make_error(std::errc::not_enough_memory, "MSE: bignum failure");
  BN_sub_word(p_minus_1.get(), 1);
  if (BN_cmp(y.get(), BN_value_one()) <= 0 || BN_cmp(y.get(), p_minus_1.get()) >= 0)
    return protocol_error("the peer's public key is outside 2 .. P-2");
  return mod_exp(y.get(), private_key_);
}

Rc4 make_cipher(std::string_view label, const DhKey& secret, const Sha1Hash& skey) {
  const Sha1Hash key = hash3(label, bytes(secret), bytes(skey));
  Rc4 rc4(key);
  rc4.discard(kDiscard);
  return rc4;
}

Sha1Hash req2_hash(const Sha1Hash& info_hash) {
  return hash3("req2", bytes(info_hash));
}

// --- HandshakeBase

HandshakeBase::HandshakeBase(const Options& options)
    : options_(options),
      key_(options.private_key ? DhKeyPair(*options.private_key) : DhKeyPair()) {}

Result<void> HandshakeBase::feed(std::string_view data) {
  if (failed_) return protocol_error("the handshake already failed");
  if (done_) {
    const std::size_t old = result_.payload.size();
    result_.payload.append(data);
    if (result_.decrypt) result_.decrypt->apply(result_.payload.data() + old, data.size());
    return {};
  }
  in_.append(data);
  if (auto r = step(); !r) {
    failed_ = true;
    return r;
  }
  if (done_ && !in_.empty()) {
    if (result_.decrypt) result_.decrypt->apply(in_.data(), in_.size());
    result_.payload.append(in_);
    in_.clear();
  }
  return {};
}

std::string HandshakeBase::take_output() {
  return std::exchange(out_, {});
}

std::string HandshakeBase::random_pad() const {
  std::size_t n = 0;
  if (options_.pad_length) {
    n = std::min(*options_.pad_length, kMaxPad);
  } else {
    std::uint16_t r = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r);
    n = r % (kMaxPad + 1);
  }
  std::string pad(n, '\0');
  if (n) RAND_bytes(reinterpret_cast<unsigned char*>(pad.data()), static_cast<int>(n));
  return pad;
}

Result<bool> HandshakeBase::sync(std::string_view pattern, std::size_t limit, const char* what) {
  const auto pos = in_.find(pattern);
  if (pos != std::string::npos && consumed_ + pos + pattern.size() <= limit) {
    in_.erase(0, pos + pattern.size());
    consumed_ += pos + pattern.size();
    return true;
  }
  if (consumed_ + in_.size() >= limit)
    return protocol_error(std::string(what) + " not found within " + std::to_string(limit) +
                          " bytes (not MSE, or a pad over 512 bytes)");
  return false;
}

// Takes `n` bytes from the front of in_, decrypted; nullopt while fewer have arrived.
std::optional<std::string> HandshakeBase::take_decrypted(std::size_t n) {
  if (in_.size() < n) return std::nullopt;
  std::string block = in_.substr(0, n);
  in_.erase(0, n);
  consumed_ += n;
  decrypt_->apply(block.data(), block.size());
  return block;
}

Result<void> HandshakeBase::take_public_key() {
  DhKey theirs;
  std::memcpy(theirs.data(), in_.data(), kKeySize);
  in_.erase(0, kKeySize);
  consumed_ += kKeySize;
  auto s = key_.shared_secret(theirs);
  if (!s) return std::move(s).take_error();
  secret_ = *s;
  return {};
}

void HandshakeBase::finish(std::uint32_t method) {
  result_.method = method;
  if (method == kRc4) {
    result_.encrypt = std::move(encrypt_);
    result_.decrypt = std::move(decrypt_);
  }
  done_ = true;
}

// --- Initiator

Initiator::Initiator(const Sha1Hash& info_hash, std::uint32_t provide, std::string initial_payload,
                     const Options& options)
    : HandshakeBase(options), provide_(provide), initial_payload_(std::move(initial_payload)) {
  result_.info_hash = info_hash;
  if (initial_payload_.size() > kMaxInitialPayload) initial_payload_.clear();
  out_.append(bytes(key_.public_key()));
  out_.append(random_pad());
}

Result<void> Initiator::on_yb() {
  if (auto r = take_public_key(); !r) return r;
  const Sha1Hash& skey = result_.info_hash;
  encrypt_ = make_cipher("keyA", secret_, skey);
  decrypt_ = make_cipher("keyB", secret_, skey);
  out_.append(bytes(hash3("req1", bytes(secret_))));
  Sha1Hash obfuscated = req2_hash(skey);
  const Sha1Hash req3 = hash3("req3", bytes(secret_));
  for (std::size_t i = 0; i < obfuscated.size(); ++i)
    obfuscated[i] ^= req3[i];
  out_.append(bytes(obfuscated));
  const std::string pad_c = random_pad();
  std::string block(kVcSize, '\0');
  put_be(block, provide_, 4);
  put_be(block, static_cast<std::uint32_t>(pad_c.size()), 2);
  block += pad_c;
  put_be(block, static_cast<std::uint32_t>(initial_payload_.size()), 2);
  block += initial_payload_;
  encrypt_->apply(block.data(), block.size());
  out_ += block;
  // ENCRYPT(VC) from B is B's first 8 keystream bytes (VC is zero); computing it consumes
  // exactly the keystream that VC will.
  pattern_.assign(kVcSize, '\0');
  decrypt_->apply(pattern_.data(), pattern_.size());
  return {};
}

Result<void> Initiator::step() {
  for (;;) {
    switch (state_) {
      case State::wait_yb:
        if (in_.size() < kKeySize) return {};
        if (auto r = on_yb(); !r) return r;
        state_ = State::sync_vc;
        break;
      case State::sync_vc: {
        auto found = sync(pattern_, kInitiatorSyncLimit, "ENCRYPT(VC)");
        if (!found) return std::move(found).take_error();
        if (!*found) return {};
        state_ = State::select;
        break;
      }
      case State::select: {
        auto block = take_decrypted(6);
        if (!block) return {};
        selected_ = get_be(*block, 0, 4);
        pad_d_ = get_be(*block, 4, 2);
        if ((selected_ != kPlaintext && selected_ != kRc4) || !(selected_ & provide_))
          return protocol_error("the peer selected method " + std::to_string(selected_) +
                                ", not one we offered (" + std::to_string(provide_) + ")");
        if (pad_d_ > kMaxPad)
          return protocol_error("PadD of " + std::to_string(pad_d_) + " bytes (max 512)");
        state_ = State::pad_d;
        break;
      }
      case State::pad_d:
        if (!take_decrypted(pad_d_)) return {};
        finish(selected_);
        return {};
    }
  }
}

// --- Receiver

Receiver::Receiver(Lookup lookup, std::uint32_t allowed, bool prefer_rc4, const Options& options)
    : HandshakeBase(options),
      lookup_(std::move(lookup)),
      allowed_(allowed),
      prefer_rc4_(prefer_rc4) {}

Result<void> Receiver::on_skey() {
  const Sha1Hash req3 = hash3("req3", bytes(secret_));
  Sha1Hash req2;
  for (std::size_t i = 0; i < req2.size(); ++i)
    req2[i] = static_cast<std::uint8_t>(in_[i]) ^ req3[i];
  in_.erase(0, req2.size());
  consumed_ += req2.size();
  const auto skey = lookup_ ? lookup_(req2) : std::nullopt;
  if (!skey) return protocol_error("the peer asks for a torrent we do not have");
  result_.info_hash = *skey;
  encrypt_ = make_cipher("keyB", secret_, *skey);
  decrypt_ = make_cipher("keyA", secret_, *skey);
  return {};
}

Result<void> Receiver::on_provide(std::string_view block) {
  if (block.substr(0, kVcSize) != std::string_view("\0\0\0\0\0\0\0\0", kVcSize))
    return protocol_error("the verification constant is wrong (not our info-hash or S)");
  const std::uint32_t provide = get_be(block, kVcSize, 4);
  pad_c_ = get_be(block, kVcSize + 4, 2);
  if (pad_c_ > kMaxPad)
    return protocol_error("PadC of " + std::to_string(pad_c_) + " bytes (max 512)");
  const std::uint32_t common = provide & allowed_ & (kPlaintext | kRc4);
  if (!common)
    return protocol_error("no common method (the peer offers " + std::to_string(provide) +
                          ", we allow " + std::to_string(allowed_) + ")");
  selected_ = (common & kRc4) && (prefer_rc4_ || !(common & kPlaintext)) ? kRc4 : kPlaintext;
  return {};
}

void Receiver::answer() {
  const std::string pad_d = random_pad();
  std::string block(kVcSize, '\0');
  put_be(block, selected_, 4);
  put_be(block, static_cast<std::uint32_t>(pad_d.size()), 2);
  block += pad_d;
  encrypt_->apply(block.data(), block.size());
  out_ += block;
}

Result<void> Receiver::step() {
  for (;;) {
    switch (state_) {
      case State::wait_ya:
        if (in_.size() < kKeySize) return {};
        if (auto r = take_public_key(); !r) return r;
        out_.append(bytes(key_.public_key()));
        out_.append(random_pad());
        pattern_ = std::string(bytes(hash3("req1", bytes(secret_))));
        state_ = State::sync_req1;
        break;
      case State::sync_req1: {
        auto found = sync(pattern_, kReceiverSyncLimit, "SHA1(\"req1\", S)");
        if (!found) return std::move(found).take_error();
        if (!*found) return {};
        state_ = State::skey;
        break;
      }
      case State::skey:
        if (in_.size() < 20) return {};
        if (auto r = on_skey(); !r) return r;
        state_ = State::provide;
        break;
      case State::provide: {
        auto block = take_decrypted(kVcSize + 6);
        if (!block) return {};
        if (auto r = on_provide(*block); !r) return r;
        state_ = State::pad_c;
        break;
      }
      case State::pad_c:
        if (!take_decrypted(pad_c_)) return {};
        state_ = State::ia_length;
        break;
      case State::ia_length: {
        auto block = take_decrypted(2);
        if (!block) return {};
        ia_length_ = get_be(*block, 0, 2);
        state_ = State::ia;
        break;
      }
      case State::ia: {
        auto ia = take_decrypted(ia_length_);
        if (!ia) return {};
        result_.payload = std::move(*ia);  // IA is RC4-encrypted whatever the selection
        answer();
        finish(selected_);
        return {};
      }
    }
  }
}

}  // namespace torfs::mse
