// Session::Impl: the engine thread (one io_context), the shared listener, the disk pool and the
// completion store; torrents live in a map owned by the engine thread.
#include "engine/session.hpp"

#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "engine/net/cache_budget.hpp"
#include "engine/net/dht_node.hpp"
#include "engine/net/disk_pool.hpp"
#include "engine/net/lsd.hpp"
#include "engine/net/metadata_service.hpp"
#include "engine/net/mse_socket.hpp"
#include "engine/net/resume.hpp"
#include "engine/net/session_context.hpp"
#include "engine/net/torrent_impl.hpp"

namespace torfs {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

EngineLog::EngineLog(std::function<void(LogLevel, std::string_view)> sink)
    : sink_(std::move(sink)), debug_(sink_ || std::getenv("TORFS_DEBUG") != nullptr) {}

void EngineLog::write(LogLevel level, std::string_view line) {
  std::lock_guard lock(mutex_);
  if (sink_) {
    sink_(level, line);
  } else if (level >= LogLevel::warning || debug_) {
    std::fprintf(stderr, "torfs: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

namespace {

std::filesystem::path default_state_db() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return std::filesystem::path(xdg) / "torfs" / "torfs.db";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : ".") / ".local" / "share" / "torfs" /
         "torfs.db";
}

wire::PeerId make_peer_id() {
  wire::PeerId id{};
  const std::string prefix = "-TF0010-";
  std::copy(prefix.begin(), prefix.end(), id.begin());
  std::random_device rd;
  const char* alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (std::size_t i = prefix.size(); i < id.size(); ++i)
    id[i] = alphabet[rd() % 62];
  return id;
}

// "data incomplete: 3 of 40 pieces missing or corrupt, the first is piece 7 (in FILE)".
Error incomplete_data_error(const Metainfo& metainfo, const std::vector<PieceIndex>& have) {
  const FileLayout& layout = metainfo.layout;
  std::vector<bool> present(layout.num_pieces(), false);
  for (PieceIndex p : have)
    if (p.value() < present.size()) present[p.value()] = true;
  std::uint32_t first = 0;
  while (first < present.size() && present[first])
    ++first;
  const std::uint64_t offset = layout.piece_offset(PieceIndex(first));
  const FileIndex file = layout.file_at(offset);
  std::string where = metainfo.name;
  if (file.value() < layout.num_files()) where = layout.file(file).path;
  return make_error(std::errc::no_such_file_or_directory,
                    "data incomplete: " + std::to_string(layout.num_pieces() - have.size()) +
                        " of " + std::to_string(layout.num_pieces()) +
                        " pieces missing or corrupt; the first is piece " + std::to_string(first) +
                        " (in " + where + ")");
}

}  // namespace

struct Session::Impl {
  explicit Impl(SessionConfig c) : config(std::move(c)), log(config.log) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> handle_incoming(tcp::socket socket);
  asio::awaitable<void> accept_encrypted(tcp::socket socket, std::string_view received,
                                         asio::steady_timer& deadline);
  void shutdown_on_engine();
  void start_dht(const tcp::endpoint& listen, const std::filesystem::path& db);
  void start_lsd(const tcp::endpoint& listen);

  SessionConfig config;
  EngineLog log;
  std::shared_ptr<asio::io_context> io = std::make_shared<asio::io_context>(1);
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::unique_ptr<DiskPool> disk;
  std::unique_ptr<CompletionStore> store;
  std::unique_ptr<RateLimiter> upload_limit;
  std::unique_ptr<RateLimiter> download_limit;
  std::unique_ptr<SessionContext> ctx;
  // SessionConfig::cache_size; declared before `torrents` so that it outlives them.
  std::unique_ptr<CacheBudget> cache;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<DhtNode> dht;                               // SessionConfig::dht_enabled
  std::unique_ptr<MetadataService> metadata;                  // Session::fetch_metadata
  std::unique_ptr<LocalDiscovery> lsd;                        // SessionConfig::lsd_enabled
  std::map<Sha1Hash, std::shared_ptr<TorrentImpl>> torrents;  // engine thread
  std::unique_ptr<asio::steady_timer> stop_guard;
  std::mutex mutex;  // started/stopped, add_torrent vs stop
  bool started = false;
  bool stopped = false;
  std::uint16_t port = 0;
  // Incoming connections still in their handshake (engine thread). Shared with the handshake
  // coroutines, whose frames may outlive this struct's other members at shutdown.
  std::shared_ptr<std::size_t> half_open = std::make_shared<std::size_t>(0);
};

// Bounds the descriptors a connection flood can pin: each half-open connection lives at most
// the 10 s handshake timeout; beyond this many at once, new ones are closed at once.
constexpr std::size_t kMaxHalfOpen = 256;

asio::awaitable<void> Session::Impl::accept_loop() {
  // Failures in a row (EMFILE/ENFILE while descriptors are exhausted): logged once when they
  // start and once when accepting works again, never per attempt.
  std::uint64_t failures = 0;
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
    if (!acceptor->is_open()) co_return;
    if (ec) {
      if (failures++ == 0) {
        log(LogLevel::warning, "cannot accept incoming connections: ", ec.message(),
            " (retrying every 100 ms)");
      }
      // E.g. EMFILE: the connection stays queued and accept would fail again at once; pause
      // rather than spin.
      asio::steady_timer pause(*io, 100ms);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (failures != 0) {
      log(LogLevel::info, "accepting incoming connections again (", failures, " failed attempts)");
      failures = 0;
    }
    if (*half_open >= kMaxHalfOpen) continue;  // `socket` closes as it goes out of scope
    asio::co_spawn(*io, handle_incoming(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Session::Impl::handle_incoming(tcp::socket socket) {
  struct HalfOpen {
    std::shared_ptr<std::size_t> count;
    ~HalfOpen() { --*count; }
  } const counted{half_open};
  ++*half_open;
  constexpr auto token = asio::as_tuple(asio::use_awaitable);
  char in[wire::kHandshakeSize];
  asio::steady_timer timer(*io);
  timer.expires_after(10s);
  // First 20 bytes alone: anything but a plain BitTorrent handshake is taken for MSE/PE (it
  // starts with the 96-byte Ya), and plain ones are refused at once under require_rc4.
  auto r =
      co_await (asio::async_read(socket, asio::buffer(in, 20), token) || timer.async_wait(token));
  if (r.index() == 1 || std::get<0>(std::get<0>(r))) co_return;
  if (!wire::handshake_prefix_valid({in, 20})) {
    co_await accept_encrypted(std::move(socket), std::string_view(in, 20), timer);
    co_return;
  }
  if (config.encryption == EncryptionPolicy::require_rc4) co_return;
  auto r2 = co_await (asio::async_read(socket, asio::buffer(in + 20, 48), token) ||
                      timer.async_wait(token));
  if (r2.index() == 1 || std::get<0>(std::get<0>(r2))) co_return;
  auto hs = wire::parse_handshake({in, sizeof in});
  if (!hs) co_return;
  auto it = torrents.find(hs->info_hash);
  if (it == torrents.end()) co_return;
  it->second->add_incoming(std::move(socket), *hs);
}

// The receiver side of MSE/PE for whichever of our torrents the peer names, then the peer's
// BitTorrent handshake, carried in the initial payload or sent right after the negotiation.
asio::awaitable<void> Session::Impl::accept_encrypted(tcp::socket socket, std::string_view received,
                                                      asio::steady_timer& deadline) {
  const EncryptionPolicy policy = config.encryption;
  mse::Receiver receiver(
      [this](const Sha1Hash& req2) -> std::optional<Sha1Hash> {
        for (const auto& entry : torrents)
          if (mse::req2_hash(entry.first) == req2) return entry.first;
        return std::nullopt;
      },
      mse_methods(policy), policy != EncryptionPolicy::prefer_plaintext);
  MseExchange x = co_await run_mse(socket, receiver, received, deadline);
  if (!x.established) {
    log(LogLevel::debug, "incoming connection: ", x.error);
    co_return;
  }
  mse::Established& e = *x.established;
  if (auto error = co_await read_payload(socket, e, wire::kHandshakeSize, deadline);
      !error.empty()) {
    co_return;
  }
  auto hs = wire::parse_handshake(std::string_view(e.payload).substr(0, wire::kHandshakeSize));
  if (!hs || hs->info_hash != e.info_hash) co_return;
  auto it = torrents.find(hs->info_hash);
  if (it == torrents.end()) co_return;
  PeerCrypto crypto{std::move(e.encrypt), std::move(e.decrypt),
                    e.payload.substr(wire::kHandshakeSize), e.method == mse::kPlaintext};
  it->second->add_incoming(std::move(socket), *hs, std::move(crypto));
}

void Session::Impl::shutdown_on_engine() {
  boost::system::error_code ignored;
  if (acceptor) acceptor->close(ignored);
  if (metadata) metadata->shutdown();
  if (dht) dht->stop();
  if (lsd) lsd->stop();
  stop_guard = std::make_unique<asio::steady_timer>(*io, 10s);
  stop_guard->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    log(LogLevel::warning, "shutdown took over 10 s; stopping the engine forcibly");
    io->stop();
  });
  auto remaining = std::make_shared<std::size_t>(torrents.size() + 1);
  auto one_done = [this, remaining] {
    if (--*remaining > 0) return;
    torrents.clear();
    stop_guard->cancel();
    work.reset();
    // Every torrent has flushed; what is left are idle timers and half-open incoming
    // handshakes, which must not delay the exit.
    io->stop();
  };
  for (auto& [hash, torrent] : torrents)
    torrent->stop(one_done);
  one_done();
}

// The DHT node listens on UDP at the peer listener's address, with the same port number when
// it is free. A node that cannot start is logged, not fatal: peers still come from trackers.
void Session::Impl::start_dht(const tcp::endpoint& listen, const std::filesystem::path& db) {
  Impl& s = *this;
  DhtConfig config;
  if (!s.config.dht_bootstrap.empty()) config.bootstrap = s.config.dht_bootstrap;
  config.state_file =
      s.config.dht_state_file.empty() ? db.parent_path() / "dht.state" : s.config.dht_state_file;
  // Endpoint syntax: IPv6 literals in brackets.
  std::string addr = listen.address().to_string();
  if (listen.address().is_v6()) addr.insert(0, 1, '[').push_back(']');
  for (const std::uint16_t port : {s.port, std::uint16_t{0}}) {
    config.listen = addr + ":" + std::to_string(port);
    auto node = std::make_unique<DhtNode>(*s.io, config);
    if (auto r = node->start(); !r) {
      s.log(port ? LogLevel::debug : LogLevel::warning, "DHT on ", config.listen, ": ",
            r.error().message);
      continue;
    }
    s.log(LogLevel::info, "DHT node on UDP port ", node->port());
    s.dht = std::move(node);
    s.ctx->dht = s.dht.get();
    return;
  }
}

// Peers announced on the local network go to the torrent they name (engine thread).
void Session::Impl::start_lsd(const tcp::endpoint& listen) {
  LsdConfig config;
  config.ttl = this->config.lsd_multicast_ttl;
  // IPv4 group for an IPv4 or dual-stack ([::]) listener, IPv6 group for an IPv6 one; each on
  // the listen address's interface when it is a specific address.
  const asio::ip::address addr = listen.address();
  config.ipv4 = addr.is_v4() || addr.is_unspecified();
  config.ipv6 = addr.is_v6();
  if (!addr.is_unspecified())
    (addr.is_v4() ? config.interface_address : config.interface_address6) = addr.to_string();
  auto node = std::make_unique<LocalDiscovery>(
      *io, config, [this](const Sha1Hash& hash, const Endpoint& peer) {
        if (auto it = torrents.find(hash); it != torrents.end())
          it->second->add_discovered_peers({peer});
      });
  if (auto r = node->start(); !r) {
    log(LogLevel::warning, r.error().message);
    return;
  }
  if (!node->unavailable().empty()) log(LogLevel::warning, node->unavailable());
  lsd = std::move(node);
  ctx->lsd = lsd.get();
}

Session::Session(SessionConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Session::~Session() {
  stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Completions queued when the engine stopped (cancelled timers, aborted socket operations)
  // still hold TorrentImpl references, and a TorrentImpl holds the io_context: run the ready
  // ones here (the engine thread is gone) so that cycle breaks and everything is freed.
  impl_->io->restart();
  impl_->io->poll();
  if (impl_->disk) impl_->disk->stop();
}

Result<void> Session::start() {
  Impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (s.started) return {};
  const auto db = s.config.state_db.empty() ? default_state_db() : s.config.state_db;
  auto store = CompletionStore::open(db);
  if (!store) return std::move(store).take_error();
  s.store = std::move(*store);
  if (s.store->was_reset()) {
    s.log(LogLevel::warning, "completion database reset: ", s.store->reset_reason());
  }
  auto listen = Endpoint::parse(s.config.listen);
  if (!listen) {
    return make_error(std::errc::invalid_argument,
                      "listen address '" + s.config.listen + "' is not ADDR:PORT");
  }
  auto acceptor = std::make_unique<tcp::acceptor>(*s.io);
  boost::system::error_code ec;
  const tcp::endpoint ep = to_asio(*listen);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(std::errc::address_not_available,
                      "cannot listen on " + s.config.listen + ": " + ec.message());
  }
  s.port = acceptor->local_endpoint().port();
  s.acceptor = std::move(acceptor);
  const unsigned threads = s.config.worker_threads
                               ? s.config.worker_threads
                               : std::max(2u, std::thread::hardware_concurrency());
  s.disk = std::make_unique<DiskPool>(threads);
  s.ctx = std::unique_ptr<SessionContext>(new SessionContext{
      .io_owner = s.io, .io = *s.io, .disk = *s.disk, .store = *s.store, .log = s.log});
  if (!ep.address().is_unspecified()) s.ctx->bind_address = *listen;
  s.ctx->peer_id = make_peer_id();
  s.ctx->listen_port = s.port;
  s.ctx->max_peers = std::max<std::uint32_t>(1, s.config.max_peers_per_torrent);
  s.ctx->announce_key = std::random_device{}();
  s.ctx->encryption = s.config.encryption;
  s.upload_limit = std::make_unique<RateLimiter>(*s.io, s.config.max_upload_rate);
  s.download_limit = std::make_unique<RateLimiter>(*s.io, s.config.max_download_rate);
  s.ctx->upload_limit = s.upload_limit.get();
  s.ctx->download_limit = s.download_limit.get();
  s.cache = std::make_unique<CacheBudget>(s.config.cache_size);
  s.ctx->cache = s.cache.get();
  s.metadata = std::make_unique<MetadataService>(*s.ctx);
  if (s.config.dht_enabled) s.start_dht(ep, db);
  if (s.config.lsd_enabled) s.start_lsd(ep);
  s.work.emplace(s.io->get_executor());
  asio::co_spawn(*s.io, s.accept_loop(), asio::detached);
  s.thread = std::thread([io = s.io] { io->run(); });
  s.started = true;
  s.log(LogLevel::info, "listening on port ", s.port);
  return {};
}

Result<std::shared_ptr<Torrent>> Session::add_torrent(Metainfo metainfo, TorrentConfig config) {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopped) {
      return make_error(std::errc::operation_not_permitted, "session is not running");
    }
  }
  auto data = DataStore::open(config.data_dir, metainfo.layout);
  if (!data) return std::move(data).take_error();
  TorrentRecord record;
  record.info_hash = metainfo.info_hash;
  std::error_code ec;
  record.data_dir = std::filesystem::absolute(config.data_dir, ec).lexically_normal().string();
  record.name = metainfo.name;
  record.total_size = metainfo.layout.total_size();
  record.piece_length = metainfo.layout.piece_length();
  record.num_pieces = metainfo.layout.num_pieces();
  auto id = s.store->upsert_torrent(record);
  if (!id) return std::move(id).take_error();
  if (config.store_metainfo) {
    if (auto r = s.store->set_metainfo(*id, metainfo.info_bytes); !r) {
      s.log(LogLevel::warning, metainfo.name, ": cannot keep its metadata: ", r.error().message);
    }
  }
  auto resume = load_resume_state(metainfo, **data, *s.store, *id, s.log);
  if (!resume) return std::move(resume).take_error();
  if (config.require_complete && resume->have.size() < metainfo.layout.num_pieces()) {
    return incomplete_data_error(metainfo, resume->have);
  }
  const Sha1Hash hash = metainfo.info_hash;
  auto torrent = std::make_shared<TorrentImpl>(*s.ctx, std::move(metainfo), std::move(config),
                                               std::move(*data), *id, resume->have);
  torrent->queue_commit(std::move(resume->rechecked));
  // One indexed lookup: a directory mount adds thousands of torrents.
  if (auto stored = s.store->find_torrent(*id); stored && *stored) {
    torrent->set_prior_transfer((*stored)->uploaded, (*stored)->downloaded);
  }
  std::promise<bool> added;
  auto added_future = added.get_future();
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) return make_error(std::errc::operation_not_permitted, "session is stopping");
    asio::post(*s.io, [&s, torrent, hash, &added] {
      const bool fresh = s.torrents.emplace(hash, torrent).second;
      if (fresh) torrent->start();
      added.set_value(fresh);
    });
  }
  if (!added_future.get()) {
    return make_error(std::errc::file_exists, "torrent " + to_hex(hash) + " is already added");
  }
  return std::shared_ptr<Torrent>(torrent);
}

void Session::remove_torrent(const std::shared_ptr<Torrent>& torrent) {
  Impl& s = *impl_;
  auto impl = std::dynamic_pointer_cast<TorrentImpl>(torrent);
  std::lock_guard lock(s.mutex);
  if (!impl || !s.started || s.stopped) return;
  asio::post(*s.io, [&s, impl] {
    auto it = s.torrents.find(impl->info_hash());
    if (it == s.torrents.end() || it->second != impl) return;
    s.torrents.erase(it);
    impl->stop([] {});
  });
}

Result<Metainfo> Session::fetch_metadata(const Magnet& magnet, const MetadataRequest& request) {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopped) {
      return make_error(std::errc::operation_not_permitted, "session is not running");
    }
  }
  return s.metadata->fetch(magnet, request);
}

std::uint16_t Session::listen_port() const {
  return impl_->port;
}

void Session::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopped) return;
    s.stopped = true;
    asio::post(*s.io, [&s] { s.shutdown_on_engine(); });
  }
  if (std::this_thread::get_id() == s.thread.get_id()) return;  // joined by the destructor
  s.thread.join();
  s.disk->stop();
}

}  // namespace torfs
