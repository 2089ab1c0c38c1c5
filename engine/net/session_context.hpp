// SessionContext: what every torrent of a session shares (engine-internal, engine thread).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "cache/completion_store.hpp"
#include "engine/endpoint.hpp"
#include "engine/net/disk_pool.hpp"
#include "engine/net/rate_limiter.hpp"
#include "engine/session.hpp"
#include "engine/wire.hpp"

namespace boost::asio {
class io_context;
}

namespace torfs {

class CacheBudget;
class DhtNode;
class LocalDiscovery;

// Thread-safe logger over SessionConfig::log.
class EngineLog {
 public:
  explicit EngineLog(std::function<void(LogLevel, std::string_view)> sink);
  void write(LogLevel level, std::string_view line);
  template <class... Args>
  void operator()(LogLevel level, const Args&... args) {
    if (level == LogLevel::debug && !debug_) return;
    std::ostringstream os;
    (os << ... << args);
    write(level, os.str());
  }
  bool debug_enabled() const { return debug_; }

 private:
  std::mutex mutex_;
  std::function<void(LogLevel, std::string_view)> sink_;
  bool debug_ = false;
};

struct SessionContext {
  // Torrents keep the io_context alive (their timers and sockets must die before it), even
  // when the filesystem holds a torrent past the session.
  std::shared_ptr<boost::asio::io_context> io_owner;
  boost::asio::io_context& io;
  DiskPool& disk;
  CompletionStore& store;
  EngineLog& log;
  wire::PeerId peer_id{};
  std::uint16_t listen_port = 0;
  // The listen address when it is a specific one (not 0.0.0.0 / ::): outgoing peer connections
  // leave from it, so peers see the address we accept connections on.
  std::optional<Endpoint> bind_address{};
  std::uint32_t max_peers = 50;
  std::uint32_t announce_key = 0;
  // Session-wide rate limits (SessionConfig::max_upload_rate / max_download_rate).
  RateLimiter* upload_limit = nullptr;
  RateLimiter* download_limit = nullptr;
  // IP addresses (v4 in the first 4 bytes) banned for this session for sending bad data.
  std::set<std::array<std::uint8_t, 16>> banned{};
  // The session's DHT node (SessionConfig::dht_enabled), or null.
  DhtNode* dht = nullptr;
  // The session's local service discovery (SessionConfig::lsd_enabled), or null.
  LocalDiscovery* lsd = nullptr;
  // The session's cache budget (SessionConfig::cache_size; unlimited when 0). Never null once
  // the session started.
  CacheBudget* cache = nullptr;
  // SessionConfig::encryption, for outgoing connections (PeerConnection).
  EncryptionPolicy encryption = EncryptionPolicy::prefer_plaintext;
  // The peers a successful magnet metadata fetch knew (x.pe, --peer, trackers, DHT), handed to
  // the torrent added next for that info-hash (TorrentImpl::start) so that it does not wait for
  // its own announces: a magnet with only x.pe peers has no other way to find them. Engine
  // thread; at most kMaxRememberedFetches entries of at most kMaxRememberedPeers each.
  static constexpr std::size_t kMaxRememberedFetches = 16;
  static constexpr std::size_t kMaxRememberedPeers = 200;
  std::map<Sha1Hash, std::vector<Endpoint>> metadata_peers{};
};

}  // namespace torfs
