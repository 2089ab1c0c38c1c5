// Strong index types: mixing up a piece index, a file index or a block index is a compile error.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace torfs {

template <class Tag>
class Index {
 public:
  using rep = std::uint32_t;
  constexpr Index() = default;
  constexpr explicit Index(rep v) : v_(v) {}
  constexpr rep value() const { return v_; }
  constexpr Index& operator++() { return ++v_, *this; }
  constexpr Index operator++(int) { return Index(v_++); }
  friend constexpr auto operator<=>(Index, Index) = default;

 private:
  rep v_ = 0;
};

using PieceIndex = Index<struct PieceTag>;
using FileIndex = Index<struct FileTag>;

}  // namespace torfs

template <class Tag>
struct std::hash<torfs::Index<Tag>> {
  std::size_t operator()(torfs::Index<Tag> i) const noexcept {
    return std::hash<std::uint32_t>{}(i.value());
  }
};
