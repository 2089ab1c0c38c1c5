#include "engine/bitfield.hpp"

#include <bit>
#include <cstring>

namespace torfs {

Bitfield::Bitfield(std::size_t size, bool value) : bytes_((size + 7) / 8), size_(size) {
  if (value) set_all();
}

std::optional<Bitfield> Bitfield::from_wire(std::string_view bytes, std::size_t size) {
  if (bytes.size() != (size + 7) / 8) return std::nullopt;
  Bitfield b(size);
  if (!bytes.empty()) std::memcpy(b.bytes_.data(), bytes.data(), bytes.size());
  if (size % 8 != 0) {
    const std::uint8_t spare_mask = static_cast<std::uint8_t>(0xFF >> (size % 8));
    if (b.bytes_.back() & spare_mask) return std::nullopt;
  }
  std::size_t n = 0;
  for (std::uint8_t byte : b.bytes_)
    n += static_cast<std::size_t>(std::popcount(byte));
  b.count_ = n;
  return b;
}

void Bitfield::set(std::size_t i) {
  std::uint8_t& byte = bytes_[i >> 3];
  const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (i & 7));
  if (!(byte & mask)) {
    byte |= mask;
    ++count_;
  }
}

void Bitfield::clear(std::size_t i) {
  std::uint8_t& byte = bytes_[i >> 3];
  const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (i & 7));
  if (byte & mask) {
    byte = static_cast<std::uint8_t>(byte & ~mask);
    --count_;
  }
}

void Bitfield::set_all() {
  if (bytes_.empty()) return;
  std::memset(bytes_.data(), 0xFF, bytes_.size());
  if (size_ % 8 != 0) bytes_.back() = static_cast<std::uint8_t>(0xFF << (8 - size_ % 8));
  count_ = size_;
}

void Bitfield::clear_all() {
  std::memset(bytes_.data(), 0, bytes_.size());
  count_ = 0;
}

}  // namespace torfs
