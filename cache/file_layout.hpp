// FileLayout: where the bytes of a torrent live. A torrent's data is one byte stream (the
// concatenation of its files in order); pieces cut it into piece_length chunks. This maps
// between the two, with 64-bit offsets throughout (torrents far above 4 GiB).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cache/index.hpp"
#include "cache/result.hpp"

namespace torfs {

struct FileEntry {
  // Relative path below the data directory, '/'-separated, already sanitized (no "..", no
  // empty or absolute components). Multi-file torrents start with the torrent's name:
  // "name/dir/file"; a single-file torrent is just "name".
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;  // filled by FileLayout::create: start in the torrent byte stream
  bool pad = false;          // BEP 47 pad file: zeros, never stored on disk nor shown
  bool executable = false;   // BEP 47 attr 'x'
  bool hidden = false;       // BEP 47 attr 'h'
};

// A contiguous part of one file.
struct FileSlice {
  FileIndex file;
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;
};

// Inclusive-exclusive range of pieces [begin, end).
struct PieceRange {
  PieceIndex begin;
  PieceIndex end;
  bool empty() const { return begin >= end; }
  std::uint32_t size() const { return empty() ? 0 : end.value() - begin.value(); }
};

class FileLayout {
 public:
  FileLayout() = default;

  // Computes offsets. Fails (naming the cause) when piece_length is 0, the total size
  // overflows 64 bits, or the piece count does not fit in 32 bits.
  static Result<FileLayout> create(std::vector<FileEntry> files, std::uint32_t piece_length);

  std::uint64_t total_size() const { return total_size_; }
  std::uint32_t piece_length() const { return piece_length_; }
  std::uint32_t num_pieces() const { return num_pieces_; }
  // Size of one piece: piece_length except for a shorter last piece.
  std::uint32_t piece_size(PieceIndex piece) const;
  std::uint64_t piece_offset(PieceIndex piece) const {
    return std::uint64_t{piece.value()} * piece_length_;
  }

  std::span<const FileEntry> files() const { return files_; }
  const FileEntry& file(FileIndex f) const { return files_[f.value()]; }
  std::uint32_t num_files() const { return static_cast<std::uint32_t>(files_.size()); }

  // The file slices covering [offset, offset + length) of the torrent stream, in order,
  // clipped at total_size(). Zero-length files are skipped. Pad files are included (callers
  // treat them as zeros).
  std::vector<FileSlice> map_range(std::uint64_t offset, std::uint64_t length) const;
  // Same for one block of one piece.
  std::vector<FileSlice> map_block(PieceIndex piece, std::uint32_t offset,
                                   std::uint32_t length) const;

  // Pieces touching [offset, offset + length) of the stream (empty range for length 0).
  PieceRange pieces_for_range(std::uint64_t offset, std::uint64_t length) const;
  // Pieces touching a file (empty for a zero-length file).
  PieceRange pieces_for_file(FileIndex f) const;
  // The file that holds stream byte `offset` (offset < total_size()); zero-length files never.
  FileIndex file_at(std::uint64_t offset) const;

 private:
  std::vector<FileEntry> files_;
  std::uint64_t total_size_ = 0;
  std::uint32_t piece_length_ = 0;
  std::uint32_t num_pieces_ = 0;
};

}  // namespace torfs
