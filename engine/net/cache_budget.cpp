#include "engine/net/cache_budget.hpp"

#include <algorithm>
#include <chrono>

namespace torfs {

namespace {
// Candidates kept from one scan of all members: evictions pop from this queue, so a scan of
// every cached piece happens about once per this many evictions, not once per eviction.
constexpr std::size_t kQueueLength = 256;
}  // namespace

std::uint64_t CacheBudget::now_stamp() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

void CacheBudget::attach(CacheMember& member) {
  members_.try_emplace(&member, 0);
}

void CacheBudget::detach(CacheMember& member) {
  auto it = members_.find(&member);
  if (it == members_.end()) return;
  resident_ -= std::min(resident_, it->second);
  members_.erase(it);
  std::erase_if(queue_, [&](const Queued& q) { return q.member == &member; });
}

void CacheBudget::add_resident(CacheMember& member, std::uint64_t bytes) {
  auto it = members_.find(&member);
  if (it == members_.end()) return;
  it->second += bytes;
  resident_ += bytes;
}

void CacheBudget::refill_queue() {
  std::vector<CacheCandidate> found;
  std::vector<Queued> all;
  for (auto& [member, bytes] : members_) {
    found.clear();
    member->eviction_candidates(found);
    for (const CacheCandidate& c : found)
      all.push_back(Queued{c.last_used, member, c.piece, c.bytes});
  }
  const std::size_t keep = std::min(all.size(), kQueueLength);
  auto older = [](const Queued& a, const Queued& b) {
    return a.last_used != b.last_used ? a.last_used < b.last_used : a.piece < b.piece;
  };
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(), older);
  queue_.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep));
}

CacheBudget::Reservation CacheBudget::reserve(std::uint64_t bytes) {
  Reservation r;
  reserved_ += bytes;
  if (!limited()) return r;
  std::vector<CacheMember*> touched;
  // A scan that evicted nothing means everything left is protected or pinned: stop there.
  bool evicted_since_scan = true;
  while (resident_ + reserved_ > capacity_) {
    if (queue_.empty()) {
      if (!evicted_since_scan) break;
      refill_queue();
      evicted_since_scan = false;
      if (queue_.empty()) break;
    }
    const Queued q = queue_.front();
    queue_.pop_front();
    auto m = members_.find(q.member);
    // Skip entries of detached members and pieces used (or evicted) since the scan.
    if (m == members_.end() || q.member->last_used(q.piece) != q.last_used) continue;
    if (!q.member->try_evict(q.piece)) continue;
    m->second -= std::min<std::uint64_t>(m->second, q.bytes);
    resident_ -= std::min<std::uint64_t>(resident_, q.bytes);
    ++r.evicted_pieces;
    evicted_since_scan = true;
    r.evicted_bytes += q.bytes;
    if (std::find(touched.begin(), touched.end(), q.member) == touched.end())
      touched.push_back(q.member);
  }
  if (resident_ + reserved_ > capacity_) r.over = resident_ + reserved_ - capacity_;
  std::vector<std::function<void()>> jobs;
  for (CacheMember* member : touched) {
    if (auto job = member->take_eviction_job()) jobs.push_back(std::move(job));
  }
  if (!jobs.empty()) {
    r.evict = [jobs = std::move(jobs)] {
      for (const auto& job : jobs)
        job();
    };
  }
  return r;
}

}  // namespace torfs
