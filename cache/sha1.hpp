// SHA-1 through OpenSSL 3 EVP (hardware-accelerated where the CPU has SHA extensions).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace torfs {

using Sha1Hash = std::array<std::uint8_t, 20>;

// Incremental hasher. Not thread-safe; one per thread / per piece.
class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;

  void update(const void* data, std::size_t len);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Returns the digest and resets the hasher for reuse.
  Sha1Hash finish();

 private:
  void* ctx_;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay out of this header
};

Sha1Hash sha1(std::string_view bytes);
std::string to_hex(const Sha1Hash& h);
// Accepts exactly 40 hex digits (either case).
std::optional<Sha1Hash> sha1_from_hex(std::string_view hex);

}  // namespace torfs
