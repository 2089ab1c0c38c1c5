#include "fs/parked_reads.hpp"

namespace torfs::fs {

ParkedReads::ReadPtr ParkedReads::park(fuse_req_t req, FileIndex file, std::uint64_t file_offset,
                                       std::uint64_t length, ParkedRead::Clock::time_point deadline,
                                       TorrentView* view, std::shared_ptr<const void> owner) {
  auto read = std::make_shared<ParkedRead>();
  read->req = req;
  read->file = file;
  read->file_offset = file_offset;
  read->length = length;
  read->deadline = deadline;
  read->view = view;
  read->owner = std::move(owner);
  std::lock_guard lock(mutex_);
  if (closed_) return nullptr;
  parked_[req] = read;
  return read;
}

bool ParkedReads::claim_locked(ParkedRead& read) {
  if (read.state != ParkedRead::State::parked) return false;
  read.state = ParkedRead::State::claimed;
  parked_.erase(read.req);
  ++replying_;
  return true;
}

bool ParkedReads::claim(ParkedRead& read) {
  std::lock_guard lock(mutex_);
  return claim_locked(read);
}

bool ParkedReads::repark(const ReadPtr& read) {
  std::lock_guard lock(mutex_);
  if (closed_ || read->state != ParkedRead::State::claimed) return false;
  if (ParkedRead::Clock::now() >= read->deadline) return false;
  read->state = ParkedRead::State::parked;
  read->ticket.reset();
  parked_[read->req] = read;
  return true;
}

void ParkedReads::finished() {
  std::lock_guard lock(mutex_);
  if (--replying_ == 0) idle_.notify_all();
}

bool ParkedReads::set_ticket(ParkedRead& read, WaitTicket ticket) {
  std::lock_guard lock(mutex_);
  read.ticket = ticket;
  return read.interrupted && read.state == ParkedRead::State::parked;
}

ParkedReads::ReadPtr ParkedReads::interrupt(fuse_req_t req) {
  std::lock_guard lock(mutex_);
  auto it = parked_.find(req);
  if (it == parked_.end()) return nullptr;
  it->second->interrupted = true;
  return it->second->ticket ? it->second : nullptr;
}

std::optional<WaitTicket> ParkedReads::ticket_of(const ParkedRead& read) const {
  std::lock_guard lock(mutex_);
  return read.ticket;
}

std::vector<ParkedReads::ReadPtr> ParkedReads::claim_expired(ParkedRead::Clock::time_point cutoff) {
  std::vector<ReadPtr> out;
  std::lock_guard lock(mutex_);
  for (auto& [req, read] : parked_) {
    if (read->deadline < cutoff) out.push_back(read);
  }
  for (auto& read : out)
    claim_locked(*read);
  return out;
}

std::vector<ParkedReads::ReadPtr> ParkedReads::close_and_claim_all() {
  std::vector<ReadPtr> out;
  std::lock_guard lock(mutex_);
  closed_ = true;
  for (auto& [req, read] : parked_)
    out.push_back(read);
  for (auto& read : out)
    claim_locked(*read);
  return out;
}

void ParkedReads::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return replying_ == 0; });
}

std::size_t ParkedReads::size() const {
  std::lock_guard lock(mutex_);
  return parked_.size();
}

bool ParkedReads::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace torfs::fs
