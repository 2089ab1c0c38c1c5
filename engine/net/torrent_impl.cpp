// TorrentImpl: lifecycle, peer table, choker, trackers and statistics.
#include "engine/net/torrent_impl.hpp"

#include <algorithm>
#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "engine/net/tracker_manager.hpp"
#include "engine/ut_metadata.hpp"

namespace torfs {
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr std::uint32_t kUnchokeSlots = 8;
// Failed connections are retried after 0.5 s, doubling per failure up to about a minute; a
// peer that closed a working connection after 30 s (5 s for --peer peers), tracker peers only
// while we still want data.
constexpr auto kRetryBase = 500ms;
constexpr int kRetryMaxShift = 7;
constexpr auto kReconnectDelay = 30s;
constexpr auto kPinnedReconnectDelay = 5s;
constexpr int kMaxFailures = 5;

std::array<std::uint8_t, 16> ip_key(const asio::ip::tcp::endpoint& ep) {
  std::array<std::uint8_t, 16> key{};
  const auto addr = ep.address();
  if (addr.is_v4()) {
    const auto b = addr.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), key.begin());
  } else {
    const auto v6 = addr.to_v6();
    if (v6.is_v4_mapped()) {
      const auto b = asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_bytes();
      std::copy(b.begin(), b.end(), key.begin());
    } else {
      key = v6.to_bytes();
    }
  }
  return key;
}
}  // namespace

asio::ip::tcp::endpoint to_asio(const Endpoint& ep) {
  if (!ep.v6) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(ep.address.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), ep.port};
  }
  return {asio::ip::address_v6(ep.address), ep.port};
}

Endpoint from_asio(const asio::ip::tcp::endpoint& ep) {
  Endpoint out;
  out.port = ep.port();
  const auto key = ip_key(ep);
  const auto addr = ep.address();
  out.v6 = addr.is_v6() && !addr.to_v6().is_v4_mapped();
  out.address = key;
  return out;
}

TorrentImpl::TorrentImpl(SessionContext& ctx, Metainfo metainfo, TorrentConfig config,
                         std::unique_ptr<DataStore> store, TorrentId id,
                         const std::vector<PieceIndex>& have)
    : io_owner_(ctx.io_owner),
      ctx_(ctx),
      metainfo_(std::move(metainfo)),
      config_(std::move(config)),
      store_(std::move(store)),
      id_(id),
      picker_(metainfo_.layout.num_pieces(), metainfo_.layout.piece_length(),
              metainfo_.layout.total_size()),
      have_(new std::atomic<bool>[metainfo_.layout.num_pieces()]),
      file_have_(new std::atomic<std::uint64_t>[metainfo_.layout.num_files()]),
      tick_timer_(ctx.io) {
  const FileLayout& layout = metainfo_.layout;
  for (std::uint32_t p = 0; p < layout.num_pieces(); ++p)
    have_[p].store(false);
  for (std::uint32_t f = 0; f < layout.num_files(); ++f)
    file_have_[f].store(0);
  for (PieceIndex p : have) {
    if (p.value() >= layout.num_pieces() || picker_.have(p)) continue;
    picker_.set_have(p);
    have_[p.value()].store(true);
    have_bytes_ += layout.piece_size(p);
    visit_slices(layout, layout.piece_offset(p), layout.piece_size(p), [&](const FileSlice& s) {
      file_have_[s.file.value()] += s.length;
      return true;
    });
  }
  pieces_have_ = picker_.num_have();
  if (config_.on_demand) {
    for (std::uint32_t p = 0; p < layout.num_pieces(); ++p) {
      picker_.set_priority(PieceIndex(p), Priority::none);
    }
  }
}

TorrentImpl::~TorrentImpl() = default;

// ---------------------------------------------------------------- read side (any thread)

bool TorrentImpl::have_piece(PieceIndex piece) const {
  return piece.value() < metainfo_.layout.num_pieces() &&
         have_[piece.value()].load(std::memory_order_acquire);
}

std::uint64_t TorrentImpl::file_have_bytes(FileIndex file) const {
  if (file.value() >= metainfo_.layout.num_files()) return 0;
  return std::min(file_have_[file.value()].load(std::memory_order_relaxed),
                  metainfo_.layout.file(file).size);
}

int TorrentImpl::file_fd(FileIndex file) {
  if (file.value() >= metainfo_.layout.num_files()) return -1;
  return store_->file_fd(file);
}

TorrentStats TorrentImpl::stats() const {
  TorrentStats s;
  s.total_bytes = metainfo_.layout.total_size();
  s.have_bytes = have_bytes_.load(std::memory_order_relaxed);
  s.pieces_total = metainfo_.layout.num_pieces();
  s.pieces_have = pieces_have_.load(std::memory_order_relaxed);
  s.downloaded = downloaded_.load(std::memory_order_relaxed);
  s.uploaded = uploaded_.load(std::memory_order_relaxed);
  s.total_downloaded = prior_downloaded_ + s.downloaded;
  s.total_uploaded = prior_uploaded_ + s.uploaded;
  s.download_rate = download_rate_.load(std::memory_order_relaxed);
  s.upload_rate = upload_rate_.load(std::memory_order_relaxed);
  s.peers = num_peers_.load(std::memory_order_relaxed);
  s.seeds = num_seeds_.load(std::memory_order_relaxed);
  s.web_seeds = num_web_seeds_.load(std::memory_order_relaxed);
  s.web_seed_downloaded = web_seed_downloaded_.load(std::memory_order_relaxed);
  return s;
}

bool TorrentImpl::is_complete() const {
  return pieces_have_.load(std::memory_order_acquire) == metainfo_.layout.num_pieces();
}

void TorrentImpl::on_complete(std::function<void()> callback) {
  asio::post(ctx_.io, [self = shared_from_this(), cb = std::move(callback)]() mutable {
    if (self->picker_.complete()) {
      cb();
    } else {
      self->complete_callbacks_.push_back(std::move(cb));
    }
  });
}

void TorrentImpl::on_error(std::function<void(const Error&)> callback) {
  asio::post(ctx_.io, [self = shared_from_this(), cb = std::move(callback)]() mutable {
    self->error_callbacks_.push_back(std::move(cb));
  });
}

// ---------------------------------------------------------------- lifecycle

void TorrentImpl::start() {
  started_ = true;
  const auto now = Clock::now();
  for (const std::string& text : config_.peers) {
    if (auto ep = Endpoint::parse(text)) {
      retry_[*ep] = Retry{now, 0, true};
    } else {
      ctx_.log(LogLevel::warning, metainfo_.name, ": ignoring malformed peer address '", text, "'");
    }
  }
  if (auto it = ctx_.metadata_peers.find(metainfo_.info_hash); it != ctx_.metadata_peers.end()) {
    for (const Endpoint& ep : it->second)
      retry_.try_emplace(ep, Retry{now, 0, false});
    ctx_.metadata_peers.erase(it);
  }
  if (config_.use_trackers && !metainfo_.tracker_tiers.empty()) {
    auto self = this;
    TrackerConfig tracker_config;  // announces leave from a specific listen address, if any
    if (ctx_.bind_address)
      tracker_config.bind_address = to_asio(*ctx_.bind_address).address().to_string();
    trackers_ = std::make_unique<TrackerManager>(
        ctx_.io, metainfo_.tracker_tiers, [self] { return self->announce_params(); },
        [self](std::vector<Endpoint> peers) { self->add_candidates(peers); }, tracker_config);
    trackers_->start();
  }
  ctx_.log(LogLevel::info, metainfo_.name, ": started with ", picker_.num_have(), "/",
           metainfo_.layout.num_pieces(), " pieces verified");
  cache_start();  // torrent_cache.cpp
  webseed_start();
  if (picker_.complete()) {
    completed_announced_ = true;
    if (auto r = store_->create_empty_files(); !r) {
      ctx_.log(LogLevel::warning, metainfo_.name, ": ", r.error().message);
    }
  }
  tick();
}

void TorrentImpl::queue_commit(std::vector<PieceIndex> pieces) {
  pending_commit_.insert(pending_commit_.end(), pieces.begin(), pieces.end());
}

void TorrentImpl::stop(std::function<void()> done) {
  if (stopping_) {
    asio::post(ctx_.io, std::move(done));
    return;
  }
  stopping_ = true;
  cache_stop();  // torrent_cache.cpp
  webseed_stop();
  stop_done_ = std::move(done);
  {
    std::lock_guard lock(accept_mutex_);
    accepting_ = false;
  }
  answer_all_waiters(std::make_error_code(std::errc::io_error));
  tick_timer_.cancel();
  std::vector<std::shared_ptr<PeerConnection>> all;
  for (auto& [key, peer] : peers_)
    all.push_back(peer);
  for (auto& peer : all)
    peer->close("torrent stopping");
  if (trackers_) {
    trackers_->stop([self = shared_from_this()] {
      self->trackers_stopped_ = true;
      self->maybe_finish_stop();
    });
  } else {
    trackers_stopped_ = true;
  }
  maybe_finish_stop();
}

void TorrentImpl::maybe_finish_stop() {
  if (!stopping_ || stop_finished_ || !trackers_stopped_ || hashing_ > 0 || commit_in_flight_) {
    return;
  }
  stop_finished_ = true;
  flush_completion(true, [self = shared_from_this()] {
    self->trackers_.reset();
    auto done = std::move(self->stop_done_);
    if (done) done();
  });
}

void TorrentImpl::schedule_tick() {
  tick_timer_.expires_after(1s);
  tick_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->tick();
  });
}

void TorrentImpl::tick() {
  if (stopping_) return;
  ++ticks_;
  const auto now = Clock::now();
  update_rates();
  const bool want_data = !picker_.complete() && picker_.num_wanted() > 0;
  for (auto& [ep, retry] : retry_) {
    if (now < retry.at || known_.count(ep) || ctx_.banned.count(ep.address)) continue;
    if (!retry.pinned && !want_data) continue;
    known_.insert(ep);
    candidates_.push_back(ep);
    retry.at = Clock::time_point::max();
  }
  connect_more();
  dht_tick();
  lsd_tick();
  pex_tick();
  if (trackers_ && ticks_ % 10 == 0 && peers_.empty() && candidates_.empty() &&
      !picker_.complete()) {
    trackers_->reannounce();  // nobody to talk to: ask again (the manager keeps min interval)
  }
  if (ticks_ % 10 == 0) run_choker(ticks_ % 30 == 0);
  update_interest_all();
  refill_all();
  webseed_schedule();  // torrent_webseed.cpp
  if (!pending_commit_.empty() && !commit_in_flight_) flush_completion(false, {});
  publish_stats();
  schedule_tick();
}

void TorrentImpl::update_rates() {
  double down = 0, up = 0;
  for (auto& [key, peer] : peers_) {
    peer->download_rate =
        peer->download_rate * 0.5 + static_cast<double>(peer->received_bytes) * 0.5;
    peer->upload_rate = peer->upload_rate * 0.5 + static_cast<double>(peer->sent_bytes) * 0.5;
    peer->received_bytes = 0;
    peer->sent_bytes = 0;
    down += peer->download_rate;
    up += peer->upload_rate;
    // Pipeline: about 3 s of this peer's rate in 16 KiB blocks (libtorrent's rule), at least
    // 16 so a peer whose rate is limited by what we ask stays responsive to urgent reads.
    const double blocks = peer->download_rate * 3.0 / PiecePicker::kBlockSize;
    peer->target_queue =
        peer->snubbed ? 1 : static_cast<std::uint32_t>(std::clamp(blocks, 16.0, 500.0));
  }
  download_rate_.store(down, std::memory_order_relaxed);
  upload_rate_.store(up, std::memory_order_relaxed);
}

void TorrentImpl::publish_stats() {
  std::uint32_t connected = 0, seeds = 0;
  for (auto& [key, peer] : peers_) {
    if (!peer->handshake_done) continue;
    ++connected;
    if (peer->seed) ++seeds;
  }
  num_peers_.store(connected, std::memory_order_relaxed);
  num_seeds_.store(seeds, std::memory_order_relaxed);
}

std::uint64_t TorrentImpl::left_bytes() const {
  return metainfo_.layout.total_size() - have_bytes_.load(std::memory_order_relaxed);
}

AnnounceParams TorrentImpl::announce_params() const {
  AnnounceParams p;
  p.info_hash = metainfo_.info_hash;
  p.peer_id = ctx_.peer_id;
  p.listen_port = ctx_.listen_port;
  p.uploaded = uploaded_.load();
  p.downloaded = downloaded_.load();
  p.left = left_bytes();
  p.key = ctx_.announce_key;
  return p;
}

// ---------------------------------------------------------------- peers

void TorrentImpl::add_candidates(const std::vector<Endpoint>& peers) {
  if (stopping_) return;
  for (const Endpoint& ep : peers) {
    if (ep.port == 0 || known_.count(ep) || self_endpoints_.count(ep) ||
        ctx_.banned.count(ep.address)) {
      continue;
    }
    auto [it, fresh] = retry_.try_emplace(ep, Retry{Clock::time_point::max(), 0, false});
    if (!fresh) it->second.at = Clock::time_point::max();
    known_.insert(ep);
    candidates_.push_back(ep);
  }
  connect_more();
}

void TorrentImpl::connect_more() {
  if (picker_.complete() && !config_.seed) return;  // nothing left to do with peers
  while (!stopping_ && !candidates_.empty() && peers_.size() < ctx_.max_peers) {
    const Endpoint ep = candidates_.front();
    candidates_.pop_front();
    const PeerKey key = next_key_++;
    auto peer =
        std::make_shared<PeerConnection>(*this, tcp::socket(ctx_.io), key, to_asio(ep), true);
    peers_.emplace(key, peer);
    peer_endpoints_.emplace(key, peer->remote());
    ctx_.log(LogLevel::debug, metainfo_.name, ": connecting to ", ep.to_string());
    peer->start(std::nullopt);
  }
}

void TorrentImpl::add_incoming(tcp::socket socket, const wire::Handshake& theirs,
                               PeerCrypto crypto) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec || stopping_ || peers_.size() >= ctx_.max_peers || is_banned(remote) ||
      (picker_.complete() && !config_.seed)) {
    return;
  }
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  const PeerKey key = next_key_++;
  auto peer = std::make_shared<PeerConnection>(*this, std::move(socket), key, remote, false);
  peers_.emplace(key, peer);
  peer_endpoints_.emplace(key, remote);
  peer->start(theirs, std::move(crypto));
}

bool TorrentImpl::is_banned(const tcp::endpoint& ep) const {
  return ctx_.banned.count(ip_key(ep)) != 0;
}

void TorrentImpl::ban(const tcp::endpoint& ep, const char* why) {
  const auto key = ip_key(ep);
  if (!ctx_.banned.insert(key).second) return;
  ctx_.log(LogLevel::warning, metainfo_.name, ": banning ", ep.address().to_string(), " (", why,
           ")");
  std::vector<std::shared_ptr<PeerConnection>> victims;
  for (auto& [k, peer] : peers_) {
    if (ip_key(peer->remote()) == key) victims.push_back(peer);
  }
  for (auto& peer : victims)
    peer->close("banned");
}

bool TorrentImpl::on_peer_handshake(PeerConnection& peer) {
  if (stopping_ || is_banned(peer.remote())) return false;
  if (peer.handshake.peer_id == ctx_.peer_id) {  // ourselves, e.g. from a tracker's list
    if (peer.outgoing()) {
      retry_.erase(from_asio(peer.remote()));
      self_endpoints_.insert(from_asio(peer.remote()));
    }
    return false;
  }
  for (auto& [key, other] : peers_) {
    if (other.get() != &peer && other->handshake_done &&
        other->handshake.peer_id == peer.handshake.peer_id) {
      return false;
    }
  }
  const std::uint32_t n = metainfo_.layout.num_pieces();
  peer.has = Bitfield(n);
  if (peer.handshake.supports_extensions()) {
    wire::ExtensionHandshake ext;
    ext.client = "torfs";
    ext.listen_port = ctx_.listen_port;
    ext.reqq = 500;
    // BEP 9: we serve our info dictionary to peers that came from a magnet link.
    ext.m.emplace_back(std::string(ut_metadata::kExtensionName), ut_metadata::kLocalId);
    ext.metadata_size = metainfo_.info_bytes.size();
    if (!metainfo_.is_private) {
      ext.m.emplace_back(std::string(ut_pex::kExtensionName), ut_pex::kLocalId);  // BEP 11
    }
    peer.send_extended(0, wire::encode_extension_handshake(ext));
  }
  const bool fast = peer.handshake.supports_fast();
  if (fast && picker_.complete()) {
    peer.send_simple(wire::MsgType::have_all);
  } else if (fast && picker_.num_have() == 0) {
    peer.send_simple(wire::MsgType::have_none);
  } else if (picker_.num_have() > 0) {
    peer.send_bitfield(picker_.have_bitfield());
  }
  send_dht_port(peer);  // after the piece information, which must come first (BEP 3)
  ctx_.log(LogLevel::debug, metainfo_.name, ": connected to ", peer.name(),
           peer.outgoing() ? " (outgoing)" : " (incoming)", fast ? " fast" : "");
  publish_stats();
  return true;
}

void TorrentImpl::on_peer_closed(PeerConnection& peer, std::string_view reason) {
  ctx_.log(LogLevel::debug, metainfo_.name, ": peer ", peer.name(), " closed: ", reason);
  pex_.erase(peer.key());
  if (peer.handshake_done && peer.has.size() == metainfo_.layout.num_pieces()) {
    if (peer.seed) {
      picker_.remove_seed();
    } else {
      picker_.remove_peer(peer.has);
    }
  }
  for (const auto& r : peer.requests)
    picker_.abort_request(r.block, peer.key());
  peer.requests.clear();
  picker_.release_peer(peer.key());
  if (optimistic_ == peer.key()) optimistic_ = 0;
  if (peer.outgoing()) {
    const Endpoint ep = from_asio(peer.remote());
    known_.erase(ep);
    if (auto it = retry_.find(ep); it != retry_.end() && !stopping_) {
      Retry& r = it->second;
      if (peer.handshake_done) {
        r.failures = 0;
        r.at = Clock::now() + (r.pinned ? kPinnedReconnectDelay : kReconnectDelay);
      } else if (!r.pinned && r.failures + 1 >= kMaxFailures) {
        retry_.erase(it);
      } else {
        r.at = Clock::now() + kRetryBase * (1 << std::min(r.failures++, kRetryMaxShift));
      }
    }
  }
  std::shared_ptr<PeerConnection> keep;  // keeps the object alive until this call returns
  if (auto it = peers_.find(peer.key()); it != peers_.end()) {
    keep = std::move(it->second);
    peers_.erase(it);
  }
  publish_stats();
  if (!stopping_) {
    asio::post(ctx_.io, [self = shared_from_this()] {
      self->connect_more();
      self->refill_all();
    });
  }
}

void TorrentImpl::on_request_timeout(PeerConnection& peer) {
  ctx_.log(LogLevel::debug, metainfo_.name, ": peer ", peer.name(), " snubbed (",
           peer.requests.size(), " requests unanswered)");
  peer.snubbed = true;
  peer.target_queue = 1;
  drop_requests(peer);
  refill_all();
}

void TorrentImpl::update_interest(PeerConnection& peer) {
  if (!peer.handshake_done || peer.closed()) return;
  const bool want =
      !stopping_ && !storage_failed_ && picker_.is_interesting(peer.seed ? nullptr : &peer.has);
  if (want == peer.am_interested) return;
  peer.am_interested = want;
  peer.send_simple(want ? wire::MsgType::interested : wire::MsgType::not_interested);
}

void TorrentImpl::update_interest_all() {
  for (auto& [key, peer] : peers_)
    update_interest(*peer);
}

// ---------------------------------------------------------------- choker

void TorrentImpl::choke(PeerConnection& peer) {
  if (peer.am_choking) return;
  peer.am_choking = true;
  peer.optimistic = false;
  peer.send_simple(wire::MsgType::choke);
  reject_uploads(peer);
}

void TorrentImpl::unchoke(PeerConnection& peer) {
  if (!peer.am_choking) return;
  peer.am_choking = false;
  peer.refused_requests = 0;
  peer.last_unchoked = Clock::now();
  peer.send_simple(wire::MsgType::unchoke);
}

void TorrentImpl::run_choker(bool optimistic_round) {
  // Nothing left to fetch (complete, or a partial seed / idle mount): rank as a seeder.
  const bool seeding = picker_.complete() || picker_.num_wanted() == 0;
  const auto now = Clock::now();
  std::vector<PeerConnection*> interested;
  for (auto& [key, peer] : peers_) {
    if (peer->handshake_done && peer->peer_interested) interested.push_back(peer.get());
  }
  auto rank = [&](const PeerConnection* p) {
    // Seeding: round robin, the peer waiting longest first; an unchoked peer keeps its slot for
    // about 30 s. Leeching: the peers that give us the most.
    if (seeding) {
      const auto since = p->am_choking ? p->last_unchoked : p->last_unchoked + 30s;
      return -std::chrono::duration<double>(now - since).count();
    }
    // A snubbed peer (requests unanswered for a while) gives nothing: no regular slot.
    return p->snubbed ? 1.0 : -p->download_rate;
  };
  std::stable_sort(interested.begin(), interested.end(),
                   [&](auto* a, auto* b) { return rank(a) < rank(b); });
  std::vector<PeerConnection*> rest;
  for (std::size_t i = 0; i < interested.size(); ++i) {
    if (i < kUnchokeSlots) {
      interested[i]->optimistic = false;
      unchoke(*interested[i]);
    } else {
      rest.push_back(interested[i]);
    }
  }
  if (optimistic_round && !rest.empty()) {
    static thread_local std::mt19937 rng(std::random_device{}());
    PeerConnection* lucky =
        rest[std::uniform_int_distribution<std::size_t>(0, rest.size() - 1)(rng)];
    for (auto* p : rest) {
      if (p != lucky) choke(*p);
    }
    unchoke(*lucky);
    lucky->optimistic = true;
    optimistic_ = lucky->key();
  } else {
    for (auto* p : rest) {
      if (!p->optimistic) choke(*p);
    }
  }
  for (auto& [key, peer] : peers_) {
    if (!peer->peer_interested && !peer->am_choking) choke(*peer);
  }
}

}  // namespace torfs
