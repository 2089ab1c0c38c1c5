#include "engine/net/metadata_service.hpp"

#include <future>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/net/dht_node.hpp"
#include "engine/net/metadata_fetcher.hpp"
#include "engine/net/session_context.hpp"

namespace torfs {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kDhtRetry = 20s;

// Engine-side state of one fetch: the fetcher, its timers and the promise the caller waits on.
struct FetchJob : std::enable_shared_from_this<FetchJob> {
  FetchJob(asio::io_context& io) : deadline(io), ticker(io), dht_timer(io) {}
  std::shared_ptr<MetadataFetcher> fetcher;
  asio::steady_timer deadline, ticker, dht_timer;
  std::function<void(std::size_t, std::size_t)> progress;
  DhtNode* dht = nullptr;
  bool done = false;

  void tick() {
    ticker.expires_after(1s);
    ticker.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->done) return;
      if (self->progress) self->progress(self->fetcher->connected(), self->fetcher->known_peers());
      self->tick();
    });
  }
  void dht_lookup() {
    if (!dht || done) return;
    std::weak_ptr<FetchJob> weak = shared_from_this();
    dht->get_peers(
        fetcher->info_hash(), 0,
        [weak](std::vector<Endpoint> peers) {
          if (auto self = weak.lock(); self && !self->done) self->fetcher->add_peers(peers);
        },
        [weak] {
          auto self = weak.lock();
          if (!self || self->done) return;
          self->dht_timer.expires_after(kDhtRetry);
          self->dht_timer.async_wait([weak](boost::system::error_code ec) {
            if (auto s = weak.lock(); s && !ec) s->dht_lookup();
          });
        });
  }
  void stop() {
    done = true;
    deadline.cancel();
    ticker.cancel();
    dht_timer.cancel();
  }
};

}  // namespace

Result<Metainfo> metainfo_from_magnet(const Magnet& magnet, std::string_view info_bytes) {
  auto meta = parse_info_dict(info_bytes, magnet.info_hash);
  if (!meta) return meta;
  for (const std::string& tr : magnet.trackers)
    meta->tracker_tiers.push_back({tr});
  for (const std::string& ws : magnet.web_seeds) {
    if (std::find(meta->web_seeds.begin(), meta->web_seeds.end(), ws) == meta->web_seeds.end())
      meta->web_seeds.push_back(ws);
  }
  return meta;
}

MetadataService::MetadataService(SessionContext& ctx) : ctx_(ctx) {}

MetadataService::~MetadataService() = default;

Result<Metainfo> MetadataService::fetch(const Magnet& magnet, const MetadataRequest& request) {
  auto stored = ctx_.store.metainfo_for(magnet.info_hash);
  if (!stored) return std::move(stored).take_error();
  if (*stored) {
    auto meta = metainfo_from_magnet(magnet, **stored);
    if (meta) {
      ctx_.log(LogLevel::info, "metadata of ", to_hex(magnet.info_hash), " from the state db");
      return meta;
    }
    ctx_.log(LogLevel::warning, "stored metadata of ", to_hex(magnet.info_hash), " is unusable (",
             meta.error().message, "); fetching it from peers");
  }
  auto bytes = fetch_from_peers(magnet, request);
  if (!bytes) return std::move(bytes).take_error();
  return metainfo_from_magnet(magnet, *bytes);
}

Result<std::string> MetadataService::fetch_from_peers(const Magnet& magnet,
                                                      const MetadataRequest& request) {
  std::vector<Endpoint> peers = magnet.peers;
  for (const std::string& text : request.peers) {
    auto ep = Endpoint::parse(text);
    if (!ep) return make_error(std::errc::invalid_argument, "peer '" + text + "' is not ADDR:PORT");
    peers.push_back(*ep);
  }
  MetadataFetchOptions options;
  if (request.use_trackers) {
    for (const std::string& tr : magnet.trackers)
      options.tracker_tiers.push_back({tr});
  }
  auto result = std::make_shared<std::promise<Result<std::string>>>();
  auto future = result->get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return make_error(std::errc::operation_canceled, "session is stopping");
    asio::post(ctx_.io, [this, result, peers, options, request, hash = magnet.info_hash] {
      auto job = std::make_shared<FetchJob>(ctx_.io);
      {
        std::lock_guard lock(mutex_);
        if (stopped_) {
          result->set_value(make_error(std::errc::operation_canceled, "session is stopping"));
          return;
        }
      }
      job->progress = request.progress;
      job->dht = request.use_dht ? ctx_.dht : nullptr;
      job->fetcher = std::make_shared<MetadataFetcher>(ctx_, hash, options,
                                                       [this, job, result](Result<std::string> r) {
                                                         job->stop();
                                                         active_.erase(job->fetcher);
                                                         if (r) remember_peers(*job->fetcher);
                                                         result->set_value(std::move(r));
                                                       });
      active_.insert(job->fetcher);
      job->fetcher->start();
      job->fetcher->add_peers(peers);
      job->dht_lookup();
      job->tick();
      job->deadline.expires_after(request.timeout);
      job->deadline.async_wait([job, hash](boost::system::error_code ec) {
        if (ec || job->done) return;
        job->fetcher->cancel(make_error(
            std::errc::timed_out, "no metadata for " + to_hex(hash) + " within the timeout (" +
                                      std::to_string(job->fetcher->known_peers()) +
                                      " peers tried)"));
      });
    });
  }
  // The engine answers (success, timeout, or shutdown cancels every fetch); the polling only
  // guards against an engine that stopped before our job ran.
  for (;;) {
    if (future.wait_for(200ms) == std::future_status::ready) return future.get();
    std::lock_guard lock(mutex_);
    if (stopped_ && future.wait_for(0s) != std::future_status::ready) {
      return make_error(std::errc::operation_canceled, "session stopped");
    }
  }
}

void MetadataService::remember_peers(const MetadataFetcher& fetcher) {
  auto& remembered = ctx_.metadata_peers;
  if (remembered.size() >= SessionContext::kMaxRememberedFetches &&
      !remembered.count(fetcher.info_hash())) {
    remembered.erase(remembered.begin());  // never claimed by a torrent: drop any one
  }
  std::vector<Endpoint>& peers = remembered[fetcher.info_hash()];
  peers.clear();
  for (const Endpoint& ep : fetcher.peers()) {
    if (peers.size() == SessionContext::kMaxRememberedPeers) break;
    peers.push_back(ep);
  }
}

void MetadataService::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  auto active = std::move(active_);
  for (const auto& f : active)
    f->cancel(make_error(std::errc::operation_canceled, "session stopped"));
}

}  // namespace torfs
