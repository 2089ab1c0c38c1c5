// Session: the BitTorrent engine. One engine thread (a Boost.Asio io_context) owns all state of
// all torrents and peers; a small worker pool hashes and does disk I/O and posts results back.
// This header keeps Boost.Asio out (pimpl) so fs/ and tools/ compile quickly.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/result.hpp"
#include "engine/magnet.hpp"
#include "engine/metainfo.hpp"
#include "engine/torrent_view.hpp"

namespace torfs {

// Severity of an engine log line (see SessionConfig::log).
enum class LogLevel : std::uint8_t { debug, info, warning, error };

// BitTorrent protocol encryption (MSE/PE, see docs/encryption.md) towards peers.
enum class EncryptionPolicy : std::uint8_t {
  // Outgoing: a plain handshake; a peer that hangs up right after it gets one retry with MSE.
  // Incoming: plain and MSE handshakes both accepted (MSE picks plaintext when offered).
  prefer_plaintext,
  // Outgoing: MSE offering RC4 and plaintext; a peer that hangs up on it gets one plain retry.
  // Incoming: both accepted (MSE picks RC4 when offered).
  prefer_rc4,
  // RC4 only, both directions: plain handshakes and plaintext-only MSE peers are refused.
  require_rc4,
};

struct SessionConfig {
  std::string listen = "0.0.0.0:0";     // ADDR:PORT for incoming peers; port 0 = any free port
  std::uint64_t max_upload_rate = 0;    // bytes/s shared by all peers; 0 = unlimited
  std::uint64_t max_download_rate = 0;  // bytes/s shared by all peers; 0 = unlimited
  // SQLite completion store; empty = $XDG_DATA_HOME/torfs/torfs.db (~/.local/share/...).
  std::filesystem::path state_db;
  unsigned worker_threads = 0;  // hashing + disk I/O; 0 = number of cores
  // Engine log lines. Called from the engine thread and disk workers, one call at a time;
  // must not block for long. Empty: warnings and errors go to stderr.
  std::function<void(LogLevel, std::string_view)> log;
  // Peers per torrent (outgoing + incoming).
  std::uint32_t max_peers_per_torrent = 50;
  // Mainline DHT (BEP 5): one node per address family on UDP (IPv4 for an IPv4 listen
  // address, IPv6 for an IPv6 one, both for [::], BEP 32), at the listen address with the same
  // port number as the peer listener when free (else any port). Torrents that are not private
  // (BEP 27) look up and announce themselves through it; magnets find peers with it.
  bool dht_enabled = false;
  // "HOST:PORT" entry points; empty = the usual public routers.
  std::vector<std::string> dht_bootstrap;
  // Node id + routing table; empty = "dht.state" next to the state database.
  std::filesystem::path dht_state_file;
  // Local service discovery (BEP 14): multicast announces on the local network, from the
  // listen address's interface when it is a specific IPv4 address. Not for private torrents.
  bool lsd_enabled = false;
  int lsd_multicast_ttl = 1;  // 0 keeps announces on this host (tests)
  // Cache budget: bytes of verified piece data kept on disk by all torrents of the session
  // together; 0 = unlimited. Over it, the least recently used pieces nobody is reading (no
  // pin, no parked read, outside every open reader's readahead window) are evicted: their
  // completion rows are removed, then their blocks are punched out of the data files. Pieces
  // nobody asked for are only fetched while there is room. See docs/architecture.md.
  std::uint64_t cache_size = 0;
  EncryptionPolicy encryption = EncryptionPolicy::prefer_plaintext;
};

struct TorrentConfig {
  std::filesystem::path data_dir;  // the torrent's files live at data_dir / FileEntry::path
  bool on_demand = false;          // fetch only what readers ask for (+ their readahead)
  bool seed = true;                // keep serving peers once complete
  bool use_trackers = true;
  bool use_web_seeds = true;       // the metainfo's url-list (BEP 19)
  std::vector<std::string> peers;  // "ADDR:PORT" peers to connect to directly
  // add_torrent fails (the torrent never starts, nothing is announced) unless every piece
  // verifies after the resume check; the error names how many pieces are missing and where.
  bool require_complete = false;
  // Keep the info dictionary (Metainfo::info_bytes) in the completion store, so that a magnet
  // link fetched once needs no peers for its metadata again (see Session::fetch_metadata).
  bool store_metainfo = false;
};

// How Session::fetch_metadata looks for a magnet's info dictionary.
struct MetadataRequest {
  std::vector<std::string> peers;  // "ADDR:PORT" peers to ask, besides the magnet's x.pe
  bool use_trackers = true;        // the magnet's tr= trackers
  bool use_dht = true;             // when the session runs a DHT node
  std::chrono::milliseconds timeout{120'000};
  // Called about once a second on the engine thread while peers are being asked: peers
  // connected now and peers heard of so far. Must not block.
  std::function<void(std::size_t connected, std::size_t known)> progress;
};

class Torrent : public TorrentView {
 public:
  virtual bool is_complete() const = 0;
  // Called on the engine thread once every piece is verified (immediately if already so).
  virtual void on_complete(std::function<void()> callback) = 0;
  // Called on the engine thread for a fatal storage problem (disk full, unwritable dir...).
  virtual void on_error(std::function<void(const Error&)> callback) = 0;
};

// Downloads a .torrent from an http:// or https:// URL and parses it. Bounded: at most
// limits.max_torrent_size bytes of body, 5 redirects, `timeout` for everything. Blocking; runs
// its own I/O, so it may be called before or without a Session. Errors name the URL's host.
Result<Metainfo> fetch_metainfo_url(const std::string& url,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                    const MetainfoLimits& limits = {});

class Session {
 public:
  explicit Session(SessionConfig config);
  ~Session();  // stop(), then joins the engine thread
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the engine thread and the listener. Fails if the listen address is unusable.
  Result<void> start();
  // Adds a torrent: opens/creates its data files under config.data_dir, loads completion from
  // SQLite (re-verifying files changed behind our back), then downloads and/or seeds.
  Result<std::shared_ptr<Torrent>> add_torrent(Metainfo metainfo, TorrentConfig config);
  void remove_torrent(const std::shared_ptr<Torrent>& torrent);
  // A magnet's metainfo: the info dictionary stored by an earlier add_torrent with
  // TorrentConfig::store_metainfo, or else fetched from peers (ut_metadata, BEP 9) found
  // through x.pe, request.peers, the magnet's trackers and the DHT, and checked against the
  // info-hash. The magnet's trackers become tiers of one tracker each and its ws= web seeds are
  // added. Blocks the calling thread (never call it on the engine thread) until the metadata
  // is here, request.timeout passed (timed_out, naming how many peers were tried), or the
  // session stops.
  Result<Metainfo> fetch_metadata(const Magnet& magnet, const MetadataRequest& request);
  // Port actually listened on (after start()).
  std::uint16_t listen_port() const;
  // Graceful stop: sends `stopped` announces (bounded time), answers every pending
  // wait_for_range with io_error, closes peers, flushes completion to SQLite. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torfs
