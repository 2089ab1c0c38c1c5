// TorrentFs: open/read/release and the parked-read machinery.
//
// A read never blocks a FUSE thread on the network. Verified data is answered at once with an
// fd-backed buffer (splice, no copy of whole pieces); anything else is parked with the engine
// (wait_for_range with a deadline and the handle's readahead) and answered by whoever wins
// ParkedReads::claim(). See fs/parked_reads.hpp for the exactly-once argument.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "fs/torrent_fs.hpp"

namespace torfs::fs {

namespace {

constexpr auto kSweepInterval = std::chrono::milliseconds(200);

bool range_verified(const TorrentView& view, std::uint64_t stream_offset, std::uint64_t length) {
  const PieceRange pieces = view.metainfo().layout.pieces_for_range(stream_offset, length);
  for (PieceIndex p = pieces.begin; p < pieces.end; ++p) {
    if (!view.have_piece(p)) return false;
  }
  return true;
}

int errno_for(std::error_code ec) {
  if (ec == std::errc::operation_canceled) return EINTR;
  return EIO;  // timed_out, io_error (shutdown) and anything unexpected
}

}  // namespace

void TorrentFs::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const Ref ref = resolve(ino);
  if (!ref) return void(fuse_reply_err(req, ENOENT));
  if (ref.synthetic_root || ref.node->is_dir) return void(fuse_reply_err(req, EISDIR));
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
    return void(fuse_reply_err(req, EROFS));
  }
  // Aggregate-initialized in place: the window holds a mutex and cannot be moved.
  std::unique_ptr<FileHandle> owned(new FileHandle{
      ref.vol, ref.node->file, next_reader_.fetch_add(1), ReadaheadWindow(options_.readahead)});
  FileHandle* handle = owned.get();
  {
    // Counted under the mutex remove_torrent() and handle_closed() decide with, so a volume
    // is never released with a handle open. A volume removed since resolve() is gone.
    std::lock_guard lock(ref.vol->mutex);
    if (ref.vol->removed) return void(fuse_reply_err(req, ENOENT));
    ++ref.vol->open_handles;
  }
  {
    std::lock_guard lock(handles_mutex_);
    handles_.emplace(handle, std::move(owned));
  }
  fi->fh = reinterpret_cast<std::uint64_t>(handle);
  // The kernel only ever caches bytes this filesystem returned, and those are verified and
  // never change: cached pages stay valid across opens.
  fi->keep_cache = 1;
  // O_DIRECT asks for uncached reads; honour it (those reads are also interruptible).
  if (fi->flags & O_DIRECT) fi->direct_io = 1;
  if (fuse_reply_open(req, fi) != 0) forget_handle(handle);  // interrupted: no release follows
}

void TorrentFs::release(fuse_req_t req, fuse_file_info* fi) {
  auto* handle = reinterpret_cast<FileHandle*>(fi->fh);
  if (handle) {
    handle->vol->view->close_reader(handle->reader);
    forget_handle(handle);
  }
  fuse_reply_err(req, 0);
}

void TorrentFs::forget_handle(FileHandle* handle) {
  std::unique_ptr<FileHandle> owned;
  {
    std::lock_guard lock(handles_mutex_);
    auto it = handles_.find(handle);
    if (it == handles_.end()) return;
    owned = std::move(it->second);
    handles_.erase(it);
  }
  handle_closed(*owned->vol);  // may run the volume's on_released: no lock held here
}

void TorrentFs::read(fuse_req_t req, fuse_ino_t, std::size_t size, off_t off, fuse_file_info* fi) {
  auto* handle = reinterpret_cast<FileHandle*>(fi->fh);
  if (!handle) return void(fuse_reply_err(req, EBADF));
  if (off < 0) return void(fuse_reply_err(req, EINVAL));
  for (std::size_t seen = largest_read_;
       size > seen && !largest_read_.compare_exchange_weak(seen, size);) {
  }
  TorrentView& view = *handle->vol->view;
  const FileEntry& entry = view.metainfo().layout.file(handle->file);
  const auto offset = static_cast<std::uint64_t>(off);
  if (offset >= entry.size || size == 0) return void(fuse_reply_buf(req, nullptr, 0));
  const std::uint64_t length = std::min<std::uint64_t>(size, entry.size - offset);
  const std::uint64_t readahead =
      std::min(handle->window.on_read(offset, length), entry.size - offset - length);

  const std::uint64_t stream = entry.offset + offset;
  if (!reply_verified(req, view, handle->file, offset, length)) {
    return park(req, *handle, offset, length, readahead);
  }
  if (readahead > 0 && !range_verified(view, stream + length, readahead)) {
    // The data was here but the window ahead is not: tell the engine about this reader's
    // window with a wait that completes at once (nothing to answer when it does).
    // Best effort: the reply is sent, so nothing may escape to the handler's catch-all.
    try {
      RangeRequest hint{stream, length, std::chrono::steady_clock::now() + options_.read_timeout,
                        handle->reader, readahead};
      view.wait_for_range(hint, [](std::error_code) {});
    } catch (...) {
    }
  }
}

bool TorrentFs::reply_verified(fuse_req_t req, TorrentView& view, FileIndex file,
                               std::uint64_t offset, std::uint64_t length) {
  const std::uint64_t stream = view.metainfo().layout.file(file).offset + offset;
  // Pinned while the reply copies or splices the bytes: the cache cannot evict them meanwhile.
  if (!view.acquire_read(stream, length)) return false;
  try {
    reply_from_disk(req, view, file, offset, length);
  } catch (...) {
    view.release_read(stream, length);
    throw;
  }
  view.release_read(stream, length);
  return true;
}

void TorrentFs::reply_from_disk(fuse_req_t req, TorrentView& view, FileIndex file,
                                std::uint64_t offset, std::uint64_t length) {
  const int fd = view.file_fd(file);
  struct stat st;
  // A verified range must be on disk in full; refuse rather than send a short read.
  if (fd < 0 || fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < offset + length) {
    return void(fuse_reply_err(req, EIO));
  }
  fuse_bufvec buf = FUSE_BUFVEC_INIT(length);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = fd;
  buf.buf[0].pos = static_cast<off_t>(offset);
  // On a failed pread/splice libfuse replies with the error itself.
  fuse_reply_data(req, &buf, static_cast<fuse_buf_copy_flags>(0));
}

void TorrentFs::park(fuse_req_t req, FileHandle& handle, std::uint64_t offset, std::uint64_t length,
                     std::uint64_t readahead) {
  const auto deadline = ParkedRead::Clock::now() + options_.read_timeout;
  TorrentView& view = *handle.vol->view;
  auto read = reads_->park(req, handle.file, offset, length, deadline, &view, handle.vol);
  if (!read) return void(fuse_reply_err(req, EIO));  // shutting down
  read->reader = handle.reader;
  // Registered before the engine can answer, so `req` is still alive here. If the request
  // was already interrupted, libfuse calls on_interrupt right now; it only marks the read
  // (no ticket yet) and set_ticket() in wait_for() reports it.
  fuse_req_interrupt_func(req, &TorrentFs::interrupt_trampoline, this);
  wait_for(read, readahead);
}

void TorrentFs::wait_for(const ParkedReads::ReadPtr& read, std::uint64_t readahead) {
  TorrentView& view = *read->view;
  const FileEntry& entry = view.metainfo().layout.file(read->file);
  RangeRequest request{entry.offset + read->file_offset, read->length, read->deadline, read->reader,
                       readahead};
  WaitTicket ticket = 0;
  try {
    ticket = view.wait_for_range(request, [reads = reads_, read, this](std::error_code ec) {
      // Engine thread. Only the claim winner may touch the request (or this TorrentFs, which
      // outlives every claimed reply: shutdown() waits for them).
      if (!reads->claim(*read)) return;
      complete(read, ec);
      reads->finished();
    });
  } catch (...) {
    if (reads_->claim(*read)) {
      fuse_reply_err(read->req, EIO);
      reads_->finished();
    }
    return;
  }
  if (reads_->set_ticket(*read, ticket)) {
    if (reads_->claim(*read)) {
      fuse_reply_err(read->req, EINTR);
      reads_->finished();
    }
    view.cancel_wait(ticket);
  }
}

void TorrentFs::complete(const ParkedReads::ReadPtr& read, std::error_code ec) noexcept {
  try {
    if (!ec) {
      if (reply_verified(read->req, *read->view, read->file, read->file_offset, read->length)) {
        return;
      }
      // Verified a moment ago, evicted since (a cache budget): wait for it again. The wait is
      // posted to the engine (the range is missing now), so this does not recurse.
      if (reads_->repark(read)) return wait_for(read, 0);
      fuse_reply_err(read->req, EIO);  // closing, or past the deadline
      return;
    }
    fuse_reply_err(read->req, errno_for(ec));
  } catch (...) {
    // reply_from_disk does not throw once it replied; an exception means nothing was sent.
    fuse_reply_err(read->req, EIO);
  }
}

void TorrentFs::interrupt_trampoline(fuse_req_t req, void* data) {
  static_cast<TorrentFs*>(data)->on_interrupt(req);
}

void TorrentFs::on_interrupt(fuse_req_t req) noexcept {
  try {
    auto read = reads_->interrupt(req);
    if (!read) return;  // answered already, or the ticket is not known yet (see park)
    if (reads_->claim(*read)) {
      fuse_reply_err(req, EINTR);
      reads_->finished();
    }
    if (auto ticket = reads_->ticket_of(*read)) read->view->cancel_wait(*ticket);
  } catch (...) {
    // Nothing to answer here: the read is still parked and its deadline stands.
  }
}

void TorrentFs::answer_claimed(const std::vector<ParkedReads::ReadPtr>& reads) {
  for (const auto& read : reads) {
    fuse_reply_err(read->req, EIO);
    reads_->finished();
  }
  for (const auto& read : reads) {
    if (auto ticket = reads_->ticket_of(*read)) {
      try {
        read->view->cancel_wait(*ticket);
      } catch (...) {
        // The engine may already be gone at shutdown; the reply above is what matters.
      }
    }
  }
}

void TorrentFs::sweep_loop() {
  std::unique_lock lock(sweep_mutex_);
  while (!stopping_) {
    sweep_cv_.wait_for(lock, kSweepInterval);
    if (stopping_) break;
    lock.unlock();
    answer_claimed(reads_->claim_expired(ParkedRead::Clock::now() - options_.deadline_grace));
    lock.lock();
  }
}

void TorrentFs::shutdown() {
  answer_claimed(reads_->close_and_claim_all());
  reads_->wait_idle();
}

}  // namespace torfs::fs
