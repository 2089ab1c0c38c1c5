// Bitfield: a fixed-size set of bits, one per piece, with the BEP 3 wire layout (bit 0 is the
// high bit of byte 0; spare bits at the end of the last byte must be zero).
// Pure; not thread-safe (one owner).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace torfs {

class Bitfield {
 public:
  Bitfield() = default;
  explicit Bitfield(std::size_t size, bool value = false);

  // Parses a wire bitfield for `size` bits. nullopt when the byte count is not ceil(size/8) or
  // a spare bit is set.
  static std::optional<Bitfield> from_wire(std::string_view bytes, std::size_t size);

  std::size_t size() const { return size_; }
  bool get(std::size_t i) const { return (bytes_[i >> 3] >> (7 - (i & 7))) & 1; }
  bool operator[](std::size_t i) const { return get(i); }
  void set(std::size_t i);
  void clear(std::size_t i);
  void set_all();
  void clear_all();

  std::size_t count() const { return count_; }
  bool all() const { return count_ == size_; }
  bool none() const { return count_ == 0; }

  // Wire bytes (ceil(size/8)), spare bits zero.
  std::span<const std::uint8_t> bytes() const { return bytes_; }
  std::size_t byte_size() const { return bytes_.size(); }

  friend bool operator==(const Bitfield& a, const Bitfield& b) {
    return a.size_ == b.size_ && a.bytes_ == b.bytes_;
  }

 private:
  std::vector<std::uint8_t> bytes_;
  std::size_t size_ = 0;
  std::size_t count_ = 0;
};

}  // namespace torfs
