// A TorrentView with fixed metadata and settable piece completion and stats, for the status
// tests (no files, no threads).
#pragma once

#include <algorithm>
#include <vector>

#include "engine/torrent_view.hpp"
#include "tests/common/test_util.hpp"

namespace torfs::testing {

class StatusFakeView : public TorrentView {
 public:
  StatusFakeView(std::string name, std::vector<FileEntry> files, std::uint32_t piece_length) {
    meta_.name = std::move(name);
    for (int i = 0; i < 20; ++i)
      meta_.info_hash[i] = static_cast<std::uint8_t>(0x10 + i);
    meta_.layout = FileLayout::create(std::move(files), piece_length).value();
    have_.assign(meta_.layout.num_pieces(), false);
  }

  void set_have(std::uint32_t piece, bool have = true) { have_.at(piece) = have; }
  TorrentStats extra;  // rates, peers, transfer totals reported by stats()

  const Metainfo& metainfo() const override { return meta_; }
  bool have_piece(PieceIndex piece) const override { return have_[piece.value()]; }
  std::uint64_t file_have_bytes(FileIndex file) const override {
    return testing::have_bytes_in_file(meta_.layout, file,
                                       [this](PieceIndex p) { return have_piece(p); });
  }
  int file_fd(FileIndex) override { return -1; }
  WaitTicket wait_for_range(const RangeRequest&,
                            std::function<void(std::error_code)> done) override {
    done(std::make_error_code(std::errc::io_error));
    return 0;
  }
  void cancel_wait(WaitTicket) override {}
  void close_reader(ReaderId) override {}
  TorrentStats stats() const override {
    TorrentStats s = extra;
    s.total_bytes = meta_.layout.total_size();
    s.pieces_total = meta_.layout.num_pieces();
    s.have_bytes = 0;
    s.pieces_have = 0;
    for (std::uint32_t p = 0; p < s.pieces_total; ++p) {
      if (!have_[p]) continue;
      ++s.pieces_have;
      s.have_bytes += meta_.layout.piece_size(PieceIndex(p));
    }
    return s;
  }

 private:
  Metainfo meta_;
  std::vector<bool> have_;
};

}  // namespace torfs::testing
