// Small helpers the unit tests of several modules share.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "cache/file_layout.hpp"

namespace torfs::testing {

// A fresh directory (mode 0700) under the temp dir, named <prefix>-XXXXXX; empty on failure.
inline std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

// A FileEntry for building layouts in tests.
inline FileEntry entry(std::string path, std::uint64_t size, bool pad = false,
                       bool executable = false) {
  FileEntry e;
  e.path = std::move(path);
  e.size = size;
  e.pad = pad;
  e.executable = executable;
  return e;
}

// Bytes of `file` that lie in pieces `have(PieceIndex)` calls verified: what a TorrentView's
// file_have_bytes() reports.
template <class HavePiece>
std::uint64_t have_bytes_in_file(const FileLayout& layout, FileIndex file, HavePiece have) {
  const FileEntry& e = layout.file(file);
  std::uint64_t bytes = 0;
  const PieceRange r = layout.pieces_for_file(file);
  for (PieceIndex p = r.begin; p < r.end; ++p) {
    if (!have(p)) continue;
    const std::uint64_t ps = layout.piece_offset(p);
    const std::uint64_t pe = ps + layout.piece_size(p);
    bytes += std::min(pe, e.offset + e.size) - std::max(ps, e.offset);
  }
  return bytes;
}

}  // namespace torfs::testing
