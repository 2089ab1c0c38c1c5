// ParkedReads: read requests waiting for pieces, and the state machine that answers each of
// them exactly once.
//
// Several parties race to answer a parked read: the engine's completion callback (data, or
// timed_out / io_error), a FUSE interrupt (EINTR), the deadline sweeper (EIO when the engine
// missed the deadline) and shutdown (EIO for all). Each of them must first win claim(); the
// winner replies and then calls finished(). A claimed read leaves the table at once, so a
// fuse_req_t is never looked up after its reply (libfuse frees and reuses requests).
//
// close_and_claim_all() makes every later park() fail, and wait_idle() waits for claimed
// replies still being sent: after both, nothing touches the FUSE session again.
//
// Thread safety: all members lock one internal mutex, held only for bookkeeping (never while
// replying or calling the engine).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "cache/index.hpp"
#include "engine/torrent_view.hpp"
#include "fs/fuse_api.hpp"

namespace torfs::fs {

struct ParkedRead {
  using Clock = std::chrono::steady_clock;
  fuse_req_t req = nullptr;
  FileIndex file;
  std::uint64_t file_offset = 0;  // where the reply's bytes start in the file
  std::uint64_t length = 0;
  Clock::time_point deadline;
  // The torrent the read belongs to, and what keeps it alive until the read is gone (a
  // directory mount may drop the torrent while reads are parked). Immutable after park().
  TorrentView* view = nullptr;
  std::shared_ptr<const void> owner;
  ReaderId reader = 0;  // set by the parker before it waits; immutable after

  // Guarded by ParkedReads' mutex.
  enum class State { parked, claimed } state = State::parked;
  std::optional<WaitTicket> ticket;  // known once wait_for_range returned
  bool interrupted = false;
};

class ParkedReads {
 public:
  using ReadPtr = std::shared_ptr<ParkedRead>;

  // Registers a read; nullptr once closed (the caller answers EIO itself).
  ReadPtr park(fuse_req_t req, FileIndex file, std::uint64_t file_offset, std::uint64_t length,
               ParkedRead::Clock::time_point deadline, TorrentView* view = nullptr,
               std::shared_ptr<const void> owner = {});
  // True for exactly one caller per read: that caller must reply and then call finished().
  bool claim(ParkedRead& read);
  void finished();
  // The claim winner found it cannot reply yet (the bytes it was told about were evicted in
  // between): the read goes back to parked, without a ticket, for a new wait. The caller
  // still calls finished() for its claim. False (nothing changed: reply yourself) once closed
  // or past the read's deadline.
  bool repark(const ReadPtr& read);

  // Records the engine's ticket. Returns true when an interrupt arrived before the ticket was
  // known: the caller then answers EINTR (if it wins claim()) and cancels the wait.
  bool set_ticket(ParkedRead& read, WaitTicket ticket);
  // A FUSE interrupt for `req`. Returns the read when it can be answered now (still parked,
  // ticket known); otherwise remembers the interrupt for set_ticket().
  ReadPtr interrupt(fuse_req_t req);
  std::optional<WaitTicket> ticket_of(const ParkedRead& read) const;

  // Claims every parked read whose deadline passed before `cutoff`.
  std::vector<ReadPtr> claim_expired(ParkedRead::Clock::time_point cutoff);
  // Refuses further parks and claims every parked read.
  std::vector<ReadPtr> close_and_claim_all();
  // Blocks until every claimed reply has called finished().
  void wait_idle();

  std::size_t size() const;
  bool closed() const;

 private:
  bool claim_locked(ParkedRead& read);

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::unordered_map<fuse_req_t, ReadPtr> parked_;
  std::size_t replying_ = 0;
  bool closed_ = false;
};

}  // namespace torfs::fs
