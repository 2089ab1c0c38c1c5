// TorrentImpl: the read path. FUSE threads park reads with wait_for_range(); the engine raises
// the pieces under them to `now` (deadline = the earliest waiter's), the reader's readahead
// window to `readahead`, and answers each waiter exactly once: when its last piece verifies,
// at its deadline (timed_out), on cancel_wait (operation_canceled) or on stop (io_error).
#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;

namespace {
// Extra requests beyond the pipeline target an urgent read may add per peer.
constexpr std::uint32_t kUrgentExtra = 16;
}  // namespace

WaitTicket TorrentImpl::wait_for_range(const RangeRequest& request,
                                       std::function<void(std::error_code)> done) {
  const FileLayout& layout = metainfo_.layout;
  const WaitTicket ticket = next_ticket_.fetch_add(1, std::memory_order_relaxed);
  const PieceRange range = layout.pieces_for_range(request.offset, request.length);
  bool complete = true;
  for (PieceIndex p = range.begin; p < range.end && complete; ++p)
    complete = have_piece(p);
  if (complete) {
    touch_range(range);  // torrent_cache.cpp: a use, for least-recently-used eviction
    done(std::error_code());
    if (request.readahead == 0 || is_complete()) return ticket;
    done = nullptr;  // only the readahead window remains to be posted
  }
  std::lock_guard lock(accept_mutex_);
  if (!accepting_) {
    if (done) done(std::make_error_code(std::errc::io_error));
    return ticket;
  }
  asio::post(ctx_.io, [self = shared_from_this(), ticket, request, done = std::move(done)] {
    self->add_waiter(ticket, request, done);
  });
  return ticket;
}

void TorrentImpl::cancel_wait(WaitTicket ticket) {
  std::lock_guard lock(accept_mutex_);
  if (!accepting_) return;  // stop() answered every waiter already
  asio::post(ctx_.io, [self = shared_from_this(), ticket] {
    self->finish_waiter(ticket, std::make_error_code(std::errc::operation_canceled));
  });
}

void TorrentImpl::close_reader(ReaderId reader) {
  std::lock_guard lock(accept_mutex_);
  if (!accepting_) return;
  asio::post(ctx_.io, [self = shared_from_this(), reader] {
    self->set_reader_window(reader, PieceRange{});
    self->readers_.erase(reader);
  });
}

Priority TorrentImpl::base_priority() const {
  return config_.on_demand ? Priority::none : Priority::normal;
}

void TorrentImpl::add_waiter(WaitTicket ticket, RangeRequest request,
                             std::function<void(std::error_code)> done) {
  if (stopping_) {
    if (done) done(std::make_error_code(std::errc::io_error));
    return;
  }
  const FileLayout& layout = metainfo_.layout;
  const std::uint64_t end = request.offset + request.length;
  set_reader_window(request.reader,
                    request.readahead == 0
                        ? PieceRange{}
                        : layout.pieces_for_range(end, cache_clip_readahead(request.readahead)));
  if (!done) {  // readahead update only
    refill_all();
    return;
  }
  Waiter w;
  w.range = layout.pieces_for_range(request.offset, request.length);
  for (PieceIndex p = w.range.begin; p < w.range.end; ++p)
    w.missing += picker_.have(p) ? 0 : 1;
  if (w.missing == 0) return done(std::error_code());
  if (request.deadline <= Clock::now()) return done(std::make_error_code(std::errc::timed_out));
  w.done = std::move(done);
  w.deadline = request.deadline;
  w.timer = std::make_unique<boost::asio::steady_timer>(ctx_.io, request.deadline);
  w.timer->async_wait([self = shared_from_this(), ticket](boost::system::error_code ec) {
    if (!ec) self->finish_waiter(ticket, std::make_error_code(std::errc::timed_out));
  });
  const PieceRange range = w.range;
  waiters_.emplace(ticket, std::move(w));
  for (PieceIndex p = range.begin; p < range.end; ++p) {
    if (picker_.have(p)) continue;
    piece_waiters_[p.value()].push_back(ticket);
    refresh_priority(p.value());
  }
  update_interest_all();
  for (auto& [key, peer] : peers_)
    refill(*peer, kUrgentExtra);
  webseed_schedule();  // torrent_webseed.cpp
}

void TorrentImpl::finish_waiter(WaitTicket ticket, std::error_code ec) {
  auto it = waiters_.find(ticket);
  if (it == waiters_.end()) return;
  Waiter w = std::move(it->second);
  waiters_.erase(it);
  if (w.timer) w.timer->cancel();
  for (PieceIndex p = w.range.begin; p < w.range.end; ++p) {
    auto pw = piece_waiters_.find(p.value());
    if (pw == piece_waiters_.end()) continue;
    auto& list = pw->second;
    list.erase(std::remove(list.begin(), list.end(), ticket), list.end());
    if (list.empty()) {
      piece_waiters_.erase(pw);
      refresh_priority(p.value());
    }
  }
  w.done(ec);
}

void TorrentImpl::answer_piece_waiters(std::uint32_t piece) {
  auto it = piece_waiters_.find(piece);
  if (it == piece_waiters_.end()) return;
  const std::vector<WaitTicket> tickets = std::move(it->second);
  piece_waiters_.erase(it);
  for (WaitTicket t : tickets) {
    auto w = waiters_.find(t);
    if (w != waiters_.end() && --w->second.missing == 0) finish_waiter(t, std::error_code());
  }
}

void TorrentImpl::answer_all_waiters(std::error_code ec) {
  auto all = std::move(waiters_);
  waiters_.clear();
  piece_waiters_.clear();
  for (auto& [ticket, w] : all) {
    if (w.timer) w.timer->cancel();
    w.done(ec);
  }
}

void TorrentImpl::set_reader_window(ReaderId reader, PieceRange window) {
  PieceRange old;
  if (auto it = readers_.find(reader); it != readers_.end()) old = it->second;
  if (old.begin == window.begin && old.end == window.end) return;
  readers_[reader] = window;
  for (PieceIndex p = old.begin; p < old.end; ++p)
    refresh_priority(p.value());
  for (PieceIndex p = window.begin; p < window.end; ++p)
    refresh_priority(p.value());
}

void TorrentImpl::refresh_priority(std::uint32_t piece) {
  const PieceIndex p(piece);
  if (picker_.have(p)) return;
  if (auto it = piece_waiters_.find(piece); it != piece_waiters_.end() && !it->second.empty()) {
    auto deadline = Clock::time_point::max();
    for (WaitTicket t : it->second) {
      if (auto w = waiters_.find(t); w != waiters_.end())
        deadline = std::min(deadline, w->second.deadline);
    }
    picker_.set_priority(p, Priority::now, deadline);
    return;
  }
  for (const auto& [reader, window] : readers_) {
    if (p >= window.begin && p < window.end) {
      picker_.set_priority(p, Priority::readahead);
      return;
    }
  }
  picker_.set_priority(p, base_priority());
}

}  // namespace torfs
