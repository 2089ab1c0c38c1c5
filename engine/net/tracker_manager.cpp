#include "engine/net/tracker_manager.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <set>

#include "engine/net/http_tracker.hpp"
#include "engine/net/udp_tracker.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

enum class Scheme { http, udp, unsupported };

Scheme scheme_of(std::string_view url) {
  auto starts = [url](std::string_view prefix) {
    if (url.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(url[i])) != prefix[i]) return false;
    }
    return true;
  };
  if (starts("http://") || starts("https://")) return Scheme::http;
  if (starts("udp://")) return Scheme::udp;
  return Scheme::unsupported;
}

struct Tracker {
  std::string url;
  Scheme scheme = Scheme::unsupported;
  std::optional<std::string> tracker_id;
  std::shared_ptr<UdpConnection> udp = std::make_shared<UdpConnection>();
  bool started_sent = false;
  bool completed_sent = false;
  bool working = false;
  std::string last_error, warning;
  std::uint32_t peers_last = 0;
  std::optional<std::uint32_t> seeders, leechers;
};

// One BEP 12 tier. Owned by TrackerState through unique_ptr, so coroutines may hold references to
// it (the vector of trackers is never resized after construction).
struct Tier {
  explicit Tier(asio::io_context& io) : wake(io) {}
  std::vector<Tracker> trackers;  // front: the one to ask first
  asio::steady_timer wake;        // the tier loop sleeps on it until next_announce
  asio::cancellation_signal cancel;
  Clock::time_point next_announce{};
  Clock::time_point last_attempt{};
  std::optional<Clock::duration> min_interval;
  std::uint32_t failures = 0;  // consecutive announces where every tracker failed
  bool announcing = false;
};

struct StopState {
  explicit StopState(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  std::function<void()> done;
  std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
  std::size_t pending = 0;
  bool finished = false;
};

Clock::duration backoff(const TrackerConfig& config, std::uint32_t failures) {
  const auto shift = std::min<std::uint32_t>(failures > 0 ? failures - 1 : 0, 20);
  return std::min<Clock::duration>(config.retry_base * (1LL << shift), config.retry_max);
}

asio::awaitable<Result<AnnounceResponse>> announce_to(std::string url, Scheme scheme,
                                                      std::optional<std::string> tracker_id,
                                                      std::shared_ptr<UdpConnection> udp,
                                                      AnnounceParams params, TrackerConfig config) {
  switch (scheme) {
    case Scheme::http:
      co_return co_await http_announce(build_announce_url(url, params, tracker_id),
                                       std::move(config));
    case Scheme::udp:
      co_return co_await udp_announce(std::move(url), params, std::move(config), std::move(udp));
    case Scheme::unsupported:
      break;
  }
  co_return make_error(std::errc::protocol_not_supported,
                       "unsupported tracker URL (need http://, https:// or udp://): " + url);
}

void record(Tracker& t, AnnounceEvent event, const AnnounceParams& params,
            const Result<AnnounceResponse>& r) {
  if (!r) {
    t.working = false;
    t.last_error = r.error().message;
    return;
  }
  t.working = true;
  t.last_error.clear();
  t.warning = r->warning;
  t.peers_last = static_cast<std::uint32_t>(r->peers.size());
  t.seeders = r->complete;
  t.leechers = r->incomplete;
  if (r->tracker_id) t.tracker_id = r->tracker_id;
  if (event == AnnounceEvent::started) {
    t.started_sent = true;
    if (params.left == 0) t.completed_sent = true;  // BEP 3: no `completed` when complete at start
  } else if (event == AnnounceEvent::completed) {
    t.completed_sent = true;
  } else if (event == AnnounceEvent::stopped) {
    t.started_sent = false;
  }
}

}  // namespace

namespace detail {

// Everything of a TrackerManager; shared with its coroutines so they can finish safely after
// the manager is gone (they then see `closed` and invoke nothing).
struct TrackerState {
  TrackerState(asio::io_context& io_context, TrackerConfig cfg)
      : io(io_context), config(std::move(cfg)) {}

  asio::io_context& io;
  TrackerConfig config;
  std::function<AnnounceParams()> params;
  std::function<void(std::vector<Endpoint>)> on_peers;
  std::vector<std::unique_ptr<Tier>> tiers;
  std::uint32_t key = 0;
  bool started = false;
  bool completed = false;
  bool stopping = false;  // stop() was called: no more regular announces
  bool closed = false;    // the TrackerManager is gone: no callbacks at all
  std::shared_ptr<StopState> stop_state;

  bool halted() const { return stopping || closed; }

  AnnounceEvent event_for(const Tracker& t) const {
    if (!t.started_sent) return AnnounceEvent::started;
    if (completed && !t.completed_sent) return AnnounceEvent::completed;
    return AnnounceEvent::none;
  }

  AnnounceParams make_params(AnnounceEvent event) const {
    auto source = params;  // a copy: the callback may destroy the manager
    AnnounceParams p = source ? source() : AnnounceParams{};
    if (p.key == 0) p.key = key;
    p.event = event;
    if (event == AnnounceEvent::stopped) p.numwant = 0;
    return p;
  }

  void wake(Tier& tier, Clock::time_point at) {
    if (at < tier.next_announce) {
      tier.next_announce = at;
      tier.wake.cancel();
    }
  }

  void finish_stop(const std::shared_ptr<StopState>& state) {
    if (state->finished) return;
    state->finished = true;
    state->timer.cancel();
    for (auto& signal : state->signals)
      signal->emit(asio::cancellation_type::terminal);
    auto done = std::move(state->done);
    if (!closed && done) done();
  }
};

}  // namespace detail

namespace {

using Impl = detail::TrackerState;
using ImplPtr = std::shared_ptr<Impl>;

// One announce of a tier: trackers in order until one answers; it moves to the front.
asio::awaitable<void> announce_tier(ImplPtr self, Tier& tier) {
  tier.announcing = true;
  tier.last_attempt = Clock::now();
  for (std::size_t i = 0; i < tier.trackers.size(); ++i) {
    const AnnounceEvent event = self->event_for(tier.trackers[i]);
    const AnnounceParams params = self->make_params(event);  // may stop or destroy us
    if (self->halted()) co_return;
    const Tracker& t = tier.trackers[i];
    auto r = co_await announce_to(t.url, t.scheme, t.tracker_id, t.udp, params, self->config);
    if (self->halted()) co_return;  // cancelled by stop() or the destructor: nothing to keep
    record(tier.trackers[i], event, params, r);
    if (!r) continue;
    std::rotate(tier.trackers.begin(), tier.trackers.begin() + i, tier.trackers.begin() + i + 1);
    tier.failures = 0;
    tier.min_interval.reset();
    if (r->min_interval) tier.min_interval = std::chrono::seconds(*r->min_interval);
    // A pending event (`completed` arrived meanwhile) goes out at once.
    tier.next_announce = self->event_for(tier.trackers.front()) != AnnounceEvent::none
                             ? Clock::now()
                             : Clock::now() + std::chrono::seconds(r->interval);
    tier.announcing = false;
    if (!r->peers.empty() && self->on_peers) {
      auto callback = self->on_peers;  // a copy: the callback may destroy the manager
      callback(std::move(r->peers));
    }
    co_return;
  }
  ++tier.failures;
  tier.next_announce = Clock::now() + backoff(self->config, tier.failures);
  tier.announcing = false;
}

asio::awaitable<void> tier_loop(ImplPtr self, Tier& tier) {
  while (!self->halted()) {
    if (Clock::now() < tier.next_announce) {
      tier.wake.expires_at(tier.next_announce);
      co_await tier.wake.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;  // woken early (reannounce, completed, stop) or on time: re-check
    }
    try {
      co_await announce_tier(self, tier);
    } catch (const std::exception& e) {
      // Cancellation surfaces as an exception once halted (the loop then ends); anything else
      // is a bug worth showing in status() without silencing the tier for good.
      if (self->halted()) co_return;
      tier.trackers.front().last_error = std::string("internal error: ") + e.what();
      tier.trackers.front().working = false;
      tier.announcing = false;
      tier.next_announce = Clock::now() + backoff(self->config, ++tier.failures);
    }
  }
}

asio::awaitable<void> send_stopped(ImplPtr self, Tracker& t, TrackerConfig config) {
  const AnnounceParams params = self->make_params(AnnounceEvent::stopped);
  auto r = co_await announce_to(t.url, t.scheme, t.tracker_id, t.udp, params, std::move(config));
  if (!self->closed) record(t, AnnounceEvent::stopped, params, r);
}

}  // namespace

TrackerManager::TrackerManager(asio::io_context& io, std::vector<std::vector<std::string>> tiers,
                               std::function<AnnounceParams()> params,
                               std::function<void(std::vector<Endpoint>)> on_peers,
                               TrackerConfig config)
    : impl_(std::make_shared<Impl>(io, std::move(config))) {
  impl_->params = std::move(params);
  impl_->on_peers = std::move(on_peers);
  std::mt19937 rng{std::random_device{}()};
  do {
    impl_->key = static_cast<std::uint32_t>(rng());
  } while (impl_->key == 0);
  std::set<std::string, std::less<>> seen;
  for (auto& urls : tiers) {
    auto tier = std::make_unique<Tier>(io);
    for (auto& url : urls) {
      if (url.empty() || !seen.insert(url).second) continue;
      Tracker t;
      t.scheme = scheme_of(url);
      t.url = std::move(url);
      tier->trackers.push_back(std::move(t));
    }
    if (tier->trackers.empty()) continue;
    if (impl_->config.shuffle) std::shuffle(tier->trackers.begin(), tier->trackers.end(), rng);
    impl_->tiers.push_back(std::move(tier));
  }
}

TrackerManager::~TrackerManager() {
  Impl& s = *impl_;
  s.closed = true;
  s.stopping = true;
  for (auto& tier : s.tiers) {
    tier->cancel.emit(asio::cancellation_type::terminal);
    tier->wake.cancel();
  }
  if (s.stop_state) {
    s.stop_state->timer.cancel();
    for (auto& signal : s.stop_state->signals)
      signal->emit(asio::cancellation_type::terminal);
    s.stop_state->done = nullptr;
  }
  // Release what the callbacks captured now rather than when the last coroutine frame ends.
  s.params = nullptr;
  s.on_peers = nullptr;
}

void TrackerManager::start() {
  Impl& s = *impl_;
  if (s.started || s.halted()) return;
  s.started = true;
  for (auto& tier : s.tiers) {
    tier->next_announce = Clock::now();
    // The loop handles its own exceptions; one escaping means we are halted.
    asio::co_spawn(s.io, tier_loop(impl_, *tier),
                   asio::bind_cancellation_slot(tier->cancel.slot(), [](std::exception_ptr) {}));
  }
}

void TrackerManager::completed() {
  Impl& s = *impl_;
  if (s.completed) return;
  s.completed = true;
  if (!s.started || s.halted()) return;
  // A tier in the middle of an announce sends it right after (see announce_tier).
  for (auto& tier : s.tiers) {
    if (!tier->announcing) s.wake(*tier, Clock::now());
  }
}

void TrackerManager::reannounce() {
  Impl& s = *impl_;
  if (!s.started || s.halted()) return;
  const auto now = Clock::now();
  for (auto& tier : s.tiers) {
    if (tier->announcing) continue;
    const Clock::duration gap = tier->min_interval.value_or(s.config.min_reannounce);
    s.wake(*tier, std::max(now, tier->last_attempt + gap));
  }
}

void TrackerManager::stop(std::function<void()> done) {
  Impl& s = *impl_;
  if (s.stopping) {
    // A second stop(): complete together with the first one (or at once if it finished).
    if (s.stop_state && !s.stop_state->finished) {
      s.stop_state->done = [first = std::move(s.stop_state->done), done = std::move(done)] {
        if (first) first();
        if (done) done();
      };
    } else if (done) {
      asio::post(s.io, std::move(done));
    }
    return;
  }
  s.stopping = true;
  for (auto& tier : s.tiers) {
    tier->cancel.emit(asio::cancellation_type::terminal);
    tier->wake.cancel();
  }
  auto state = std::make_shared<StopState>(s.io);
  state->done = std::move(done);
  s.stop_state = state;

  TrackerConfig config = s.config;  // every `stopped` announce is bounded by the stop bound
  config.http_timeout = std::min(config.http_timeout, config.stop_timeout);
  config.udp_total_timeout = std::min(config.udp_total_timeout, config.stop_timeout);
  for (auto& tier : s.tiers) {
    for (Tracker& t : tier->trackers) {
      if (!t.started_sent || !t.working) continue;
      auto& signal = state->signals.emplace_back(std::make_unique<asio::cancellation_signal>());
      ++state->pending;
      asio::co_spawn(
          s.io, send_stopped(impl_, t, config),
          asio::bind_cancellation_slot(signal->slot(), [self = impl_, state](std::exception_ptr) {
            if (--state->pending == 0) self->finish_stop(state);
          }));
    }
  }
  if (state->pending == 0) {
    asio::post(s.io, [self = impl_, state] { self->finish_stop(state); });
    return;
  }
  state->timer.expires_after(config.stop_timeout);
  state->timer.async_wait(
      [self = impl_, state](boost::system::error_code) { self->finish_stop(state); });
}

std::vector<TrackerStatus> TrackerManager::status() const {
  const Impl& s = *impl_;
  const auto now = Clock::now();
  std::vector<TrackerStatus> out;
  for (const auto& tier : s.tiers) {
    std::int64_t next = 0;
    if (s.started && !s.halted() && !tier->announcing && tier->next_announce > now) {
      next = std::chrono::ceil<std::chrono::seconds>(tier->next_announce - now).count();
    }
    for (const Tracker& t : tier->trackers) {
      out.push_back(TrackerStatus{t.url, t.last_error, t.warning, t.peers_last, t.working, next,
                                  t.seeders, t.leechers});
    }
  }
  return out;
}

}  // namespace torfs
