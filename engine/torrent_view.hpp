// TorrentView: everything the filesystem needs from one torrent of the engine, and nothing
// more. fs/ depends on this interface only, never on sockets or engine internals.
//
// Thread safety: every member may be called from any thread (FUSE worker threads) at any time
// while the view is alive. Completion callbacks run on an engine-owned thread and must not block
// for long (a pread/splice reply is fine; waiting on the network is not).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <system_error>

#include "cache/file_layout.hpp"
#include "cache/index.hpp"
#include "engine/metainfo.hpp"

namespace torfs {

using ReaderId = std::uint64_t;  // one per open file handle; chosen by the caller, unique
using WaitTicket = std::uint64_t;

struct RangeRequest {
  std::uint64_t offset = 0;  // in the torrent byte stream (FileEntry::offset + offset in file)
  std::uint64_t length = 0;
  std::chrono::steady_clock::time_point deadline;  // fail with timed_out after this
  ReaderId reader = 0;
  // Bytes after the range that this reader will probably want next; the engine fetches them
  // with "readahead" priority. Replaces this reader's previous window (a seek resets it).
  std::uint64_t readahead = 0;
};

struct TorrentStats {
  std::uint64_t total_bytes = 0;
  std::uint64_t have_bytes = 0;  // verified bytes on disk
  std::uint32_t pieces_total = 0;
  std::uint32_t pieces_have = 0;
  std::uint64_t downloaded = 0;  // payload bytes received from peers this session
  std::uint64_t uploaded = 0;    // payload bytes sent
  // All-time payload totals (earlier sessions from the completion store, plus this one): the
  // seeding ratio is total_uploaded / total_downloaded.
  std::uint64_t total_downloaded = 0;
  std::uint64_t total_uploaded = 0;
  double download_rate = 0;  // bytes/s, smoothed
  double upload_rate = 0;
  std::uint32_t peers = 0;  // connected peers
  std::uint32_t seeds = 0;
  // Web seeds (BEP 19) fetching for this torrent right now, and the payload bytes received
  // from web seeds this session (included in `downloaded`).
  std::uint32_t web_seeds = 0;
  std::uint64_t web_seed_downloaded = 0;
};

class TorrentView {
 public:
  virtual ~TorrentView() = default;

  virtual const Metainfo& metainfo() const = 0;
  // True once the piece is verified and its bytes are readable from file_fd().
  virtual bool have_piece(PieceIndex piece) const = 0;
  // Verified bytes of a file (for st_blocks / progress).
  virtual std::uint64_t file_have_bytes(FileIndex file) const = 0;
  // A read-only descriptor of the data file, valid while the view lives; -1 when the file has
  // no data on disk yet. Owned by the view: callers must not close it.
  virtual int file_fd(FileIndex file) = 0;

  // Calls `done` exactly once: with no error when every piece under the range is verified,
  // with std::errc::timed_out at the deadline, std::errc::operation_canceled after
  // cancel_wait(), or std::errc::io_error if the engine is shutting down. May call `done`
  // before returning when the range is already complete.
  virtual WaitTicket wait_for_range(const RangeRequest& request,
                                    std::function<void(std::error_code)> done) = 0;
  virtual void cancel_wait(WaitTicket ticket) = 0;
  // The reader closed its handle: its readahead window goes away.
  virtual void close_reader(ReaderId reader) = 0;

  virtual TorrentStats stats() const = 0;

  // Reading verified bytes straight from file_fd(): acquire_read() pins every piece under the
  // stream range [offset, offset + length) against cache eviction (and counts as a use for
  // least-recently-read eviction), and returns true only when all of them are verified. Each
  // true acquire_read() must be paired with release_read() of the same range once the bytes
  // are copied out; a false one pins nothing. Without a cache budget nothing is ever evicted,
  // which is what these defaults (for views without eviction) implement.
  virtual bool acquire_read(std::uint64_t offset, std::uint64_t length) {
    const PieceRange pieces = metainfo().layout.pieces_for_range(offset, length);
    for (PieceIndex p = pieces.begin; p < pieces.end; ++p) {
      if (!have_piece(p)) return false;
    }
    return true;
  }
  virtual void release_read(std::uint64_t /*offset*/, std::uint64_t /*length*/) {}
};

}  // namespace torfs
