#include "cache/file_layout.hpp"

#include <algorithm>
#include <limits>

namespace torfs {

Result<FileLayout> FileLayout::create(std::vector<FileEntry> files, std::uint32_t piece_length) {
  if (piece_length == 0) return make_error(std::errc::invalid_argument, "piece length is 0");
  FileLayout layout;
  std::uint64_t offset = 0;
  for (auto& f : files) {
    if (f.size > std::numeric_limits<std::uint64_t>::max() - offset) {
      return make_error(std::errc::value_too_large,
                        "total size overflows 64 bits at file '" + f.path + "'");
    }
    f.offset = offset;
    offset += f.size;
  }
  const std::uint64_t pieces = offset / piece_length + (offset % piece_length ? 1 : 0);
  if (pieces > std::numeric_limits<std::uint32_t>::max()) {
    return make_error(std::errc::value_too_large, "piece count does not fit in 32 bits");
  }
  layout.files_ = std::move(files);
  layout.total_size_ = offset;
  layout.piece_length_ = piece_length;
  layout.num_pieces_ = static_cast<std::uint32_t>(pieces);
  return layout;
}

std::uint32_t FileLayout::piece_size(PieceIndex piece) const {
  const std::uint64_t start = piece_offset(piece);
  if (start >= total_size_) return 0;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(piece_length_, total_size_ - start));
}

FileIndex FileLayout::file_at(std::uint64_t offset) const {
  // First file whose end is beyond offset; skips zero-length files sitting at `offset`.
  auto it = std::upper_bound(
      files_.begin(), files_.end(), offset,
      [](std::uint64_t off, const FileEntry& f) { return off < f.offset + f.size; });
  return FileIndex(static_cast<std::uint32_t>(it - files_.begin()));
}

std::vector<FileSlice> FileLayout::map_range(std::uint64_t offset, std::uint64_t length) const {
  std::vector<FileSlice> out;
  if (offset >= total_size_) return out;
  length = std::min(length, total_size_ - offset);
  for (auto f = file_at(offset); length > 0 && f.value() < files_.size(); ++f) {
    const FileEntry& e = files_[f.value()];
    if (e.size == 0) continue;
    const std::uint64_t in_file = offset - e.offset;
    const std::uint64_t n = std::min(length, e.size - in_file);
    out.push_back(FileSlice{f, in_file, n});
    offset += n;
    length -= n;
  }
  return out;
}

std::vector<FileSlice> FileLayout::map_block(PieceIndex piece, std::uint32_t offset,
                                             std::uint32_t length) const {
  return map_range(piece_offset(piece) + offset, length);
}

PieceRange FileLayout::pieces_for_range(std::uint64_t offset, std::uint64_t length) const {
  if (length == 0 || offset >= total_size_) return {PieceIndex(0), PieceIndex(0)};
  const std::uint64_t last = offset + std::min(length, total_size_ - offset) - 1;
  return {PieceIndex(static_cast<std::uint32_t>(offset / piece_length_)),
          PieceIndex(static_cast<std::uint32_t>(last / piece_length_ + 1))};
}

PieceRange FileLayout::pieces_for_file(FileIndex f) const {
  const FileEntry& e = files_[f.value()];
  return pieces_for_range(e.offset, e.size);
}

}  // namespace torfs
