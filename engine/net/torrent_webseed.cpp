// TorrentImpl: web seeds (BEP 19, GetRight-style url-list). Policy:
//  (a) a piece a reader waits for goes to a web seed when no connected peer has it or took it
//      up, when no peer is serving us, or when peers have not delivered it within kSlowAfter;
//  (b) while no peer is serving us (none connected, or all choking us / uninteresting), web
//      seeds download in the background in picker order; while peers serve us but leave a
//      reader waiting longer than kSlowAfter, only readers' readahead windows.
// A fetch is a run of consecutive pieces (at most web_seed::kMaxFetchBytes, or one piece when
// pieces are larger), claimed in the picker under the web seed's own PeerKey so peers leave
// them alone: a reader's piece and what follows it (PiecePicker::claim_run), or in the
// background the picker's choice moved back to the start of its unclaimed stretch
// (PiecePicker::claim_next_run), so that fetches stay as long as allowed instead of stopping
// at pieces claimed in random order. A reader's piece that peers already work on is fetched
// without a claim and the later copy of each block is dropped by PiecePicker::mark_received.
// The bytes enter the same path as peer blocks (piece_data_, hash_and_write), so nothing
// unverified is ever served.
// Failures back off exponentially per web seed; a web seed that keeps failing, or sends
// pieces that fail their hash, is disabled (logged with its URL and the reason).
#include <algorithm>
#include <cctype>
#include <cstring>

#include "engine/net/torrent_impl.hpp"
#include "engine/net/web_seed.hpp"

namespace torfs {
using namespace std::chrono_literals;

namespace {
constexpr std::size_t kMaxWebSeeds = 8;   // url-list entries used (the rest are ignored)
constexpr std::size_t kSlotsPerSeed = 2;  // fetches in flight per web seed
constexpr std::uint32_t kMaxFetches = 4;  // fetches in flight per torrent: bounds the memory
constexpr int kMaxFailures = 5;           // failed fetches in a row before disabling
constexpr int kMaxStrikes = 3;            // pieces failing their hash before disabling
constexpr auto kBackoffBase = 2s;
constexpr std::chrono::steady_clock::duration kBackoffMax = 5min;
// A reader's piece is fetched with at most this much that follows it, so the read is answered
// soon; the rest of the reader's window comes through background fetches.
constexpr std::uint64_t kUrgentFetchBytes = 1u << 20;
constexpr auto kSlowAfter = 2s;             // a reader's piece peers are slow with
constexpr PeerKey kKeyBase = 0xF000'0000u;  // web seed keys; peer keys count up from 1
// Pieces received but not hashed and written yet hold their buffers: past this many bytes new
// fetches wait. A loopback or LAN web seed outruns SHA-1 + pwrite on a small machine, and
// without this bound the queue (and the RSS) grew to ~400 MiB for a 1 GiB download.
constexpr std::uint64_t kMaxUnwrittenBytes = 32u << 20;

bool usable_url(std::string_view url) {
  auto starts = [&](std::string_view p) {
    return url.size() > p.size() && std::equal(p.begin(), p.end(), url.begin(), [](char a, char b) {
             return a == std::tolower(static_cast<unsigned char>(b));
           });
  };
  return starts("http://") || starts("https://");
}
}  // namespace

struct TorrentImpl::WebSeeds {
  struct Seed {
    std::string url;
    PeerKey key = 0;
    std::vector<std::shared_ptr<WebSeedConnection>> slots;
    int failures = 0;
    int strikes = 0;
    Clock::time_point retry_at{};
    bool disabled = false;
    std::size_t in_flight = 0;  // fetches under way
  };
  struct Job {
    std::vector<std::uint32_t> pieces;  // consecutive
    std::vector<bool> claimed;          // claimed in the picker (else a duplicate fetch)
    std::size_t delivered = 0;          // pieces handed to the picker so far (in order)
    std::uint64_t delivered_bytes = 0;
  };

  std::vector<Seed> seeds;
  std::set<std::uint32_t> fetching;  // pieces some web seed is fetching now
  std::unordered_map<std::uint32_t, Clock::time_point> waited_since;  // readers' pieces
  std::uint32_t active = 0;
  // Download rate of the web seeds, added to the peers' in download_rate_ once per tick.
  std::uint64_t received = 0;  // body bytes since the last tick
  double rate = 0;
  std::uint64_t rate_tick = 0;

  Job plan(TorrentImpl& t, const Seed& seed, bool peers_serving, Clock::time_point now);
  void start_fetch(TorrentImpl& t, std::size_t index, WebSeedConnection& slot, Job job);
  // Delivers the job's pieces that lie completely below `filled` bytes of its buffer.
  void deliver_ready(TorrentImpl& t, PeerKey key, Job& job, const char* data, std::uint64_t filled);
  void on_fetched(TorrentImpl& t, std::size_t index, Job& job, const char* data,
                  const std::optional<WebSeedFailure>& failure);
  void deliver(TorrentImpl& t, PeerKey key, std::uint32_t piece, const char* data);
  void release(TorrentImpl& t, PeerKey key, const Job& job);
  // Publishes how many web seeds are fetching now (TorrentStats::web_seeds).
  void publish_active(TorrentImpl& t) const;
};

void TorrentImpl::webseed_start() {
  if (metainfo_.web_seeds.empty() || !config_.use_web_seeds) return;
  auto w = std::make_shared<WebSeeds>();
  WebSeedOptions options;
  options.download_limit = ctx_.download_limit;
  for (const std::string& url : metainfo_.web_seeds) {
    if (!usable_url(url)) {
      ctx_.log(LogLevel::warning, metainfo_.name, ": ignoring web seed '", url.substr(0, 160),
               "' (not an http:// or https:// URL)");
      continue;
    }
    if (w->seeds.size() == kMaxWebSeeds) {
      ctx_.log(LogLevel::info, metainfo_.name, ": using only the first ", kMaxWebSeeds,
               " web seeds");
      break;
    }
    WebSeeds::Seed seed;
    seed.url = url;
    seed.key = kKeyBase + static_cast<PeerKey>(w->seeds.size());
    for (std::size_t i = 0; i < kSlotsPerSeed; ++i)
      seed.slots.push_back(std::make_shared<WebSeedConnection>(ctx_.io, options));
    ctx_.log(LogLevel::info, metainfo_.name, ": web seed ", url.substr(0, 160));
    w->seeds.push_back(std::move(seed));
  }
  if (!w->seeds.empty()) web_seeds_ = std::move(w);
}

void TorrentImpl::webseed_stop() {
  if (!web_seeds_) return;
  for (auto& seed : web_seeds_->seeds) {
    for (auto& slot : seed.slots)
      slot->close();
  }
  web_seeds_->fetching.clear();
  web_seeds_->active = 0;
  for (auto& seed : web_seeds_->seeds)
    seed.in_flight = 0;
  web_seeds_->publish_active(*this);
}

void TorrentImpl::webseed_schedule() {
  if (!web_seeds_) return;
  WebSeeds& w = *web_seeds_;
  if (w.rate_tick != ticks_) {  // first call of this tick: after update_rates() (tick())
    w.rate_tick = ticks_;
    w.rate = w.rate * 0.5 + static_cast<double>(w.received) * 0.5;
    w.received = 0;
    download_rate_.store(download_rate_.load(std::memory_order_relaxed) + w.rate,
                         std::memory_order_relaxed);
  }
  if (stopping_ || storage_failed_ || storage_paused_ || picker_.complete()) return;
  const std::uint64_t unwritten = std::uint64_t{hashing_} * metainfo_.layout.piece_length();
  if (unwritten > std::max<std::uint64_t>(kMaxUnwrittenBytes, 2ull * web_seed::kMaxFetchBytes)) {
    return;  // on_piece_checked() calls again as the disk catches up
  }
  const auto now = Clock::now();
  bool peers_serving = false;
  for (auto& [key, peer] : peers_) {
    if (peer->handshake_done && !peer->peer_choking && peer->am_interested && !peer->snubbed) {
      peers_serving = true;
      break;
    }
  }
  for (auto it = w.waited_since.begin(); it != w.waited_since.end();) {
    it = piece_waiters_.count(it->first) != 0 ? std::next(it) : w.waited_since.erase(it);
  }
  for (const auto& [piece, tickets] : piece_waiters_)
    w.waited_since.try_emplace(piece, now);
  for (std::size_t i = 0; i < w.seeds.size(); ++i) {
    WebSeeds::Seed& seed = w.seeds[i];
    if (seed.disabled || now < seed.retry_at) continue;
    for (auto& slot : seed.slots) {
      if (slot->busy() || w.active >= kMaxFetches) continue;
      WebSeeds::Job job = w.plan(*this, seed, peers_serving, now);
      if (job.pieces.empty()) return;  // nothing for any web seed to do now
      w.start_fetch(*this, i, *slot, std::move(job));
    }
  }
}

void TorrentImpl::webseed_piece_failed(const std::vector<PeerKey>& senders) {
  if (!web_seeds_) return;
  for (PeerKey key : senders) {
    if (key < kKeyBase || key - kKeyBase >= web_seeds_->seeds.size()) continue;
    WebSeeds::Seed& seed = web_seeds_->seeds[key - kKeyBase];
    ++seed.strikes;
    seed.retry_at = Clock::now() + kBackoffBase * seed.strikes;
    if (seed.strikes >= kMaxStrikes && !seed.disabled) {
      seed.disabled = true;
      ctx_.log(LogLevel::warning, metainfo_.name, ": web seed ", seed.url.substr(0, 160),
               " disabled: ", seed.strikes, " pieces from it failed their hash check");
    } else {
      ctx_.log(LogLevel::warning, metainfo_.name, ": web seed ", seed.url.substr(0, 160),
               " sent a piece that failed its hash check (strike ", seed.strikes, " of ",
               kMaxStrikes, ")");
    }
  }
}

// ---------------------------------------------------------------- TorrentImpl::WebSeeds

TorrentImpl::WebSeeds::Job TorrentImpl::WebSeeds::plan(TorrentImpl& t, const Seed& seed,
                                                       bool peers_serving, Clock::time_point now) {
  Job job;
  // (a) the lowest piece a reader waits for that peers cannot or do not deliver: no peer
  // serves us, none has it, none took it up (add_waiter refills peers first), or they have
  // been at it for kSlowAfter.
  std::vector<std::uint32_t> urgent;
  bool starving = false;
  for (const auto& [piece, since] : waited_since) {
    const PieceIndex p(piece);
    if (t.picker_.have(p)) continue;
    starving = starving || now - since >= kSlowAfter;
    if (fetching.count(piece) != 0) continue;
    if (t.picker_.blocks_received(p) == t.picker_.blocks_in_piece(p)) continue;  // hashing
    const bool nobody =
        !peers_serving || t.picker_.availability(p) == 0 || !t.picker_.is_downloading(p);
    if (nobody || now - since >= kSlowAfter) urgent.push_back(piece);
  }
  std::sort(urgent.begin(), urgent.end());
  const std::uint64_t piece_length = t.metainfo_.layout.piece_length();
  auto add_run = [&](std::uint32_t first, std::uint32_t count) {
    for (std::uint32_t i = 0; i < count; ++i) {
      job.pieces.push_back(first + i);
      job.claimed.push_back(true);
    }
  };
  for (std::uint32_t piece : urgent) {
    // The reader's piece first, then what follows it within its readahead window.
    const std::uint32_t claimed =
        t.picker_.claim_piece(PieceIndex(piece), seed.key, Priority::now, now) ? 1 : 0;
    // Unclaimable and not in progress (e.g. held by the cache): its blocks would be dropped.
    if (claimed == 0 && !t.picker_.is_downloading(PieceIndex(piece))) continue;
    job.pieces.push_back(piece);
    job.claimed.push_back(claimed == 1);
    const auto more = static_cast<std::uint32_t>(kUrgentFetchBytes / piece_length);
    if (more > 0) {
      add_run(piece + 1,
              t.picker_.claim_run(PieceIndex(piece + 1), seed.key, Priority::readahead, more, now));
    }
    return job;
  }
  // (b) background download while no peer serves us; readers' windows only while peers
  // leave a reader waiting longer than kSlowAfter.
  if (peers_serving && !starving) return job;
  const Priority min =
      peers_serving ? Priority::readahead : std::max(Priority::normal, t.cache_min_new_priority());
  const auto max_pieces = static_cast<std::uint32_t>(
      std::max<std::uint64_t>(web_seed::kMaxFetchBytes / piece_length, 1));
  if (auto run = t.picker_.claim_next_run(seed.key, min, max_pieces, now))
    add_run(run->first.value(), run->count);
  return job;
}

void TorrentImpl::WebSeeds::start_fetch(TorrentImpl& t, std::size_t index, WebSeedConnection& slot,
                                        Job job) {
  const FileLayout& layout = t.metainfo_.layout;
  const std::uint64_t offset = layout.piece_offset(PieceIndex(job.pieces.front()));
  std::uint64_t length = 0;
  for (std::uint32_t p : job.pieces) {
    length += layout.piece_size(PieceIndex(p));
    fetching.insert(p);
  }
  ++active;
  ++seeds[index].in_flight;
  publish_active(t);
  t.ctx_.log(LogLevel::debug, t.metainfo_.name, ": web seed ", index, " fetches pieces ",
             job.pieces.front(), "-", job.pieces.back(), job.claimed.front() ? "" : " (duplicate)");
  auto requests = web_seed::plan_fetch(seeds[index].url, layout, t.metainfo_.multi_file, offset,
                                       length, &t.metainfo_.original_paths);
  WebSeedConnection::Buffer buffer(new char[length]);
  auto shared_job = std::make_shared<Job>(std::move(job));
  std::weak_ptr<TorrentImpl> weak = t.shared_from_this();
  const PeerKey key = seeds[index].key;
  // Pieces are delivered as soon as their bytes are in (a slow or rate-limited fetch still
  // answers readers piece by piece); the callbacks hold the torrent weakly.
  slot.fetch(
      std::move(requests), buffer,
      [weak, key, shared_job, data = buffer.get()](std::size_t n, std::uint64_t filled) {
        auto self = weak.lock();
        if (!self || !self->web_seeds_ || self->stopping_) return;
        self->downloaded_.fetch_add(n, std::memory_order_relaxed);
        self->web_seed_downloaded_.fetch_add(n, std::memory_order_relaxed);
        self->web_seeds_->received += n;
        self->web_seeds_->deliver_ready(*self, key, *shared_job, data, filled);
      },
      [weak, index, shared_job, buffer](std::optional<WebSeedFailure> failure) {
        auto self = weak.lock();
        if (!self || !self->web_seeds_ || self->stopping_) return;
        self->web_seeds_->on_fetched(*self, index, *shared_job, buffer.get(), failure);
      });
}

void TorrentImpl::WebSeeds::deliver_ready(TorrentImpl& t, PeerKey key, Job& job, const char* data,
                                          std::uint64_t filled) {
  while (job.delivered < job.pieces.size()) {
    const std::uint32_t piece = job.pieces[job.delivered];
    const std::uint32_t size = t.metainfo_.layout.piece_size(PieceIndex(piece));
    if (job.delivered_bytes + size > filled) return;
    fetching.erase(piece);
    deliver(t, key, piece, data + job.delivered_bytes);
    job.delivered_bytes += size;
    ++job.delivered;
    if (t.stopping_ || t.storage_failed_) return;
  }
}

void TorrentImpl::WebSeeds::on_fetched(TorrentImpl& t, std::size_t index, Job& job,
                                       const char* data,
                                       const std::optional<WebSeedFailure>& failure) {
  --active;
  for (std::size_t i = job.delivered; i < job.pieces.size(); ++i)
    fetching.erase(job.pieces[i]);
  Seed& seed = seeds[index];
  --seed.in_flight;
  publish_active(t);
  if (failure) {
    release(t, seed.key, job);
    ++seed.failures;
    const auto backoff = std::min<Clock::duration>(
        kBackoffBase * (1 << std::min(seed.failures - 1, 10)), kBackoffMax);
    seed.retry_at = Clock::now() + backoff;
    if (seed.failures >= kMaxFailures) {
      seed.disabled = true;
      t.ctx_.log(LogLevel::warning, t.metainfo_.name, ": web seed ", seed.url.substr(0, 160),
                 " disabled after ", seed.failures,
                 " failed requests in a row: ", failure->error.message);
    } else {
      t.ctx_.log(LogLevel::warning, t.metainfo_.name, ": web seed ", seed.url.substr(0, 160),
                 " failed (retry in ",
                 std::chrono::duration_cast<std::chrono::seconds>(backoff).count(),
                 " s): ", failure->error.message);
    }
    t.refill_all();  // peers may take the released pieces
    return;
  }
  seed.failures = 0;
  deliver_ready(t, seed.key, job, data, UINT64_MAX);  // normally all delivered already
  t.webseed_schedule();
}

// The blocks of a fetched piece enter the picker like a peer's (the first copy of a block
// wins); a complete piece goes to hash_and_write.
void TorrentImpl::WebSeeds::deliver(TorrentImpl& t, PeerKey key, std::uint32_t piece,
                                    const char* data) {
  const PieceIndex p(piece);
  if (t.picker_.have(p)) return;
  const std::uint32_t blocks = t.picker_.blocks_in_piece(p);
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const BlockRef ref{p, b};
    const PiecePicker::ReceiveResult res = t.picker_.mark_received(ref, key);
    if (!res.accepted) continue;
    const std::uint32_t begin = t.picker_.block_offset(ref);
    const std::uint32_t len = t.picker_.block_size(ref);
    Buffer& buf = t.piece_data_[piece];
    if (!buf) buf = t.take_buffer();
    std::memcpy(buf.get() + begin, data + begin, len);
    for (PeerKey other : res.cancel) {
      auto it = t.peers_.find(other);
      if (it == t.peers_.end()) continue;
      auto& reqs = it->second->requests;
      auto r =
          std::find_if(reqs.begin(), reqs.end(), [&](const auto& x) { return x.block == ref; });
      if (r == reqs.end()) continue;
      reqs.erase(r);
      it->second->forgive_late_blocks(1);
      it->second->send_request(wire::MsgType::cancel, piece, begin, len);
    }
    if (res.piece_complete) t.hash_and_write(piece);
  }
}

// A failed fetch: the claimed blocks of the pieces it did not deliver become free for peers and
// other web seeds again.
void TorrentImpl::WebSeeds::release(TorrentImpl& t, PeerKey key, const Job& job) {
  for (std::size_t i = job.delivered; i < job.pieces.size(); ++i) {
    if (!job.claimed[i]) continue;
    const PieceIndex p(job.pieces[i]);
    for (std::uint32_t b = 0; b < t.picker_.blocks_in_piece(p); ++b)
      t.picker_.abort_request(BlockRef{p, b}, key);
  }
}

void TorrentImpl::WebSeeds::publish_active(TorrentImpl& t) const {
  const auto n = std::count_if(seeds.begin(), seeds.end(),
                               [](const Seed& seed) { return seed.in_flight > 0; });
  t.num_web_seeds_.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
}

}  // namespace torfs
