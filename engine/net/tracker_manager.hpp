// TrackerManager: announces one torrent to its trackers (HTTP(S) and UDP, BEP 3/12/15/23).
//
// Multitracker policy (BEP 12, as libtorrent does by default with announce_to_all_tiers):
// every tier announces independently and concurrently; within a tier the URLs are shuffled
// once, tried in order until one answers, and the one that answered moves to the front so it
// is asked first next time. A tier whose trackers all failed retries with exponential backoff
// (TrackerConfig::retry_base doubling up to retry_max). Duplicate URLs are announced once.
//
// Events: each tracker gets `started` first (repeated until one succeeds), `completed` once
// after completed() (skipped when `left` was 0 at `started`: BEP 3 says not to send it for a
// torrent complete when started), and `stopped` from stop() if it had accepted `started`.
//
// Threading: construct it, call every member and destroy it on the io_context's thread (or
// before io.run() starts). All callbacks run on that thread. The destructor cancels all work;
// no callback is invoked after it, even though coroutine frames may finish later.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/endpoint.hpp"
#include "engine/tracker_proto.hpp"

namespace boost::asio {
class io_context;
}

namespace torfs {

namespace detail {
struct TrackerState;
}

struct TrackerConfig {
  using ms = std::chrono::milliseconds;
  ms http_timeout{20'000};  // whole HTTP(S) announce: DNS, connect, TLS, redirects, body
  std::size_t http_max_body = kMaxHttpBody;
  int http_max_redirects = 5;
  ms udp_base_timeout{15'000};         // BEP 15: retransmit after base * 2^n
  int udp_max_retries = 8;             // n goes up to this
  ms udp_total_timeout{120'000};       // cap of one UDP announce including all retransmissions
  ms udp_connection_lifetime{60'000};  // a connection id is reused this long (BEP 15)
  ms stop_timeout{3'000};              // bound of stop(): `stopped` announces, then done()
  ms retry_base{15'000};               // delay after a whole tier failed; doubles per failure...
  ms retry_max{1'800'000};             // ...up to this
  // reannounce() waits at least this long after a tier's last announce (or the tracker's
  // `min interval`, when it sent one).
  ms min_reannounce{60'000};
  bool shuffle = true;  // BEP 12 shuffling of each tier; tests turn it off for determinism
  std::string ca_file;  // extra PEM CA file trusted for https (besides the system CAs)
  // Local IP literal that HTTP and UDP announces leave from (trackers record the sender's
  // address as the peer's), e.g. the session's specific listen address. Empty, "0.0.0.0" or
  // "::": the kernel chooses. Trackers of the other address family then fail with an error.
  std::string bind_address;
};

struct TrackerStatus {
  std::string url;
  std::string last_error;
  std::string warning;
  std::uint32_t peers_last = 0;
  bool working = false;
  std::int64_t next_announce_in_s = 0;
  std::optional<std::uint32_t> seeders, leechers;
};

class TrackerManager {
 public:
  // Everything runs on io's thread (the engine thread); all callbacks are invoked there.
  // `params` is called right before each announce for fresh uploaded/downloaded/left (its
  // `event` is ignored; a `key` of 0 is replaced by a random per-manager key).
  // `on_peers` receives the (non-empty) peer list of each successful announce.
  TrackerManager(boost::asio::io_context& io, std::vector<std::vector<std::string>> tiers,
                 std::function<AnnounceParams()> params,
                 std::function<void(std::vector<Endpoint>)> on_peers, TrackerConfig config = {});
  ~TrackerManager();  // cancels everything without callbacks
  TrackerManager(const TrackerManager&) = delete;
  TrackerManager& operator=(const TrackerManager&) = delete;

  void start();       // `started` announce to each tier, then re-announce on interval
  void completed();   // one `completed` announce (once), when the last piece verifies
  void reannounce();  // ask for peers now (respecting min interval)
  // `stopped` announce to working trackers, bounded by config.stop_timeout in total, then
  // done() (also when there are no trackers). done() is always invoked asynchronously (posted
  // or from a handler), never from inside stop(). After stop() nothing is announced any more.
  void stop(std::function<void()> done);
  std::vector<TrackerStatus> status() const;

 private:
  std::shared_ptr<detail::TrackerState> impl_;  // shared with coroutines, which outlive *this
};

}  // namespace torfs
