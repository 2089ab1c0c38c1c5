// TorrentImpl: one torrent of a Session. All members except the TorrentView/Torrent overrides
// run on the engine thread. The read side that FUSE threads use (have_piece, file_have_bytes,
// stats, file_fd) reads atomics; wait_for_range / cancel_wait / close_reader post onto the
// engine thread (or answer at once: complete range, or io_error once the torrent stopped).
//
// Files: torrent_impl.cpp (lifecycle, peers, choker, trackers, stats),
// torrent_pieces.cpp (requests, blocks, hashing, commits), torrent_waiters.cpp (read path:
// waiters, priorities, readahead), torrent_uploads.cpp (serving requests).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cache/completion_store.hpp"
#include "cache/data_store.hpp"
#include "engine/endpoint.hpp"
#include "engine/net/peer_connection.hpp"
#include "engine/net/session_context.hpp"
#include "engine/piece_picker.hpp"
#include "engine/session.hpp"
#include "engine/tracker_proto.hpp"
#include "engine/ut_pex.hpp"
#include "engine/wire.hpp"

namespace torfs {

class TrackerManager;
class TorrentCache;

class TorrentImpl final : public Torrent, public std::enable_shared_from_this<TorrentImpl> {
 public:
  using tcp = boost::asio::ip::tcp;
  using Clock = std::chrono::steady_clock;
  using Buffer = std::shared_ptr<char[]>;

  // `have`: pieces verified at start (loaded from SQLite and/or re-checked).
  TorrentImpl(SessionContext& ctx, Metainfo metainfo, TorrentConfig config,
              std::unique_ptr<DataStore> store, TorrentId id, const std::vector<PieceIndex>& have);
  ~TorrentImpl() override;

  // --- TorrentView / Torrent (any thread)
  const Metainfo& metainfo() const override { return metainfo_; }
  bool have_piece(PieceIndex piece) const override;
  std::uint64_t file_have_bytes(FileIndex file) const override;
  int file_fd(FileIndex file) override;
  WaitTicket wait_for_range(const RangeRequest& request,
                            std::function<void(std::error_code)> done) override;
  void cancel_wait(WaitTicket ticket) override;
  void close_reader(ReaderId reader) override;
  TorrentStats stats() const override;
  bool is_complete() const override;
  void on_complete(std::function<void()> callback) override;
  void on_error(std::function<void(const Error&)> callback) override;
  // Cache budget pins (torrent_cache.cpp): lock-free, any thread, valid once start() ran.
  bool acquire_read(std::uint64_t offset, std::uint64_t length) override;
  void release_read(std::uint64_t offset, std::uint64_t length) override;

  // --- engine thread
  void start();
  // Pieces verified by a re-check at add time: committed to SQLite with the next flush.
  void queue_commit(std::vector<PieceIndex> pieces);
  // All-time transfer totals of earlier sessions (from the completion store), before start().
  void set_prior_transfer(std::uint64_t uploaded, std::uint64_t downloaded) {
    prior_uploaded_ = uploaded;
    prior_downloaded_ = downloaded;
  }
  // Stops everything (bounded), flushes completion to SQLite, then calls done().
  void stop(std::function<void()> done);
  // `crypto`: the connection's MSE/PE state when the listener negotiated encryption.
  void add_incoming(tcp::socket socket, const wire::Handshake& theirs, PeerCrypto crypto = {});
  const Sha1Hash& info_hash() const { return metainfo_.info_hash; }
  // Peers from local service discovery (torrent_dht.cpp); ignored for private torrents.
  void add_discovered_peers(const std::vector<Endpoint>& peers);
  SessionContext& context() { return ctx_; }

  // --- called by PeerConnection (engine thread)
  // Handshake exchanged; false = refuse (wrong torrent, ourselves, banned, full).
  bool on_peer_handshake(PeerConnection& peer);
  // A parsed message; returns an error text to drop the peer, nullptr to go on.
  const char* on_message(PeerConnection& peer, const wire::Message& msg);
  void on_read_batch(PeerConnection& peer);  // after a batch of messages: refill requests
  void on_write_done(PeerConnection& peer);  // output drained: serve more uploads
  void on_request_timeout(PeerConnection& peer);
  void on_peer_closed(PeerConnection& peer, std::string_view reason);

 private:
  struct Waiter {
    std::function<void(std::error_code)> done;
    PieceRange range;
    std::uint32_t missing = 0;
    Clock::time_point deadline;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  // torrent_impl.cpp
  void tick();
  void schedule_tick();
  void update_rates();
  void publish_stats();
  void run_choker(bool optimistic_round);
  void choke(PeerConnection& peer);
  void unchoke(PeerConnection& peer);
  void add_candidates(const std::vector<Endpoint>& peers);
  void connect_more();
  void update_interest(PeerConnection& peer);
  void update_interest_all();
  bool is_banned(const tcp::endpoint& ep) const;
  void ban(const tcp::endpoint& ep, const char* why);
  AnnounceParams announce_params() const;
  void maybe_finish_stop();
  std::uint64_t left_bytes() const;

  // torrent_pieces.cpp
  void refill(PeerConnection& peer, std::uint32_t extra = 0);
  void refill_all();
  const char* on_piece(PeerConnection& peer, const wire::Message& msg);
  void drop_requests(PeerConnection& peer);
  void hash_and_write(std::uint32_t piece);
  void on_piece_checked(std::uint32_t piece, bool hash_ok, Result<void> written, Buffer buffer);
  void on_piece_passed(std::uint32_t piece);
  void on_piece_failed(std::uint32_t piece);
  void on_completed();
  void flush_completion(bool final_flush, std::function<void()> then);
  void fail_storage(const Error& error);
  Buffer take_buffer();

  // torrent_guard.cpp: hardening (flood accounting, recoverable storage failures)
  // A piece message that matches no outstanding request of `peer`: an error text once the
  // peer is over its unsolicited-data allowance (it is also given a strike), else nullptr.
  const char* on_unsolicited(PeerConnection& peer, std::uint32_t length);
  void strike(const tcp::endpoint& ep, const char* why);  // two strikes on an address: banned
  // A verified piece could not be written: ENOSPC/EDQUOT/EMFILE/ENFILE pause downloading and
  // keep the piece in memory for a retry (bounded); anything else is fail_storage().
  void on_write_failed(std::uint32_t piece, const Error& error, Buffer buffer);
  void schedule_write_retry();
  void retry_held_write();
  void resume_after_storage_pause();
  void recycle(Buffer buffer);

  // torrent_waiters.cpp
  void add_waiter(WaitTicket ticket, RangeRequest request,
                  std::function<void(std::error_code)> done);
  void finish_waiter(WaitTicket ticket, std::error_code ec);
  void set_reader_window(ReaderId reader, PieceRange window);
  void refresh_priority(std::uint32_t piece);
  void make_room_for_urgent(PeerConnection& peer);
  void answer_piece_waiters(std::uint32_t piece);
  void answer_all_waiters(std::error_code ec);
  Priority base_priority() const;

  // torrent_dht.cpp: DHT lookups + announces (BEP 5), not for private torrents (BEP 27)
  void dht_tick();
  void on_port_message(const PeerConnection& peer, std::uint16_t port);
  void send_dht_port(PeerConnection& peer);  // after the handshake, to DHT-capable peers
  void lsd_tick();                           // BEP 14 announces, every 5 minutes

  // torrent_pex.cpp: peer exchange (BEP 11, ut_pex), not for private torrents
  void on_extensions(PeerConnection& peer, const wire::ExtensionHandshake& ext);
  void on_pex(PeerConnection& peer, std::string_view payload);
  void pex_tick();

  // torrent_webseed.cpp: web seeds (BEP 19, url-list), used for pieces readers wait for that
  // peers lack or are slow with, and in the background while no peer serves us.
  struct WebSeeds;
  void webseed_start();     // start(): one WebSeed per usable url-list entry
  void webseed_stop();      // stop(): cancels fetches; none of their callbacks runs afterwards
  void webseed_schedule();  // tick() and new waiters: start fetches on idle web seeds
  // on_piece_failed: a strike for each web seed among the senders of a piece that failed.
  void webseed_piece_failed(const std::vector<PeerKey>& senders);

  // torrent_cache.cpp: the cache budget (SessionConfig::cache_size; docs/architecture.md,
  // "Cache budget"). Every hook is a no-op without a budget.
  friend class TorrentCache;
  void cache_start();  // start(): join the session's budget
  void cache_stop();   // stop(): leave it
  // hash_and_write: reserves room for the piece, evicting least recently used pieces; the
  // returned work (may be empty) must run on the disk worker BEFORE the piece is written.
  std::function<void()> cache_reserve(std::uint32_t piece);
  void cache_unreserve(std::uint32_t piece);  // on_piece_checked: the write is over
  void cache_verified(std::uint32_t piece);   // on_piece_passed: the piece is resident
  // refill: background pieces start only while the cache has room.
  Priority cache_min_new_priority() const;
  // add_waiter: a reader's readahead window, clipped so that windows fit in the budget.
  std::uint64_t cache_clip_readahead(std::uint64_t readahead) const;
  void touch_range(PieceRange range);  // any thread: a use, for least-recently-used order
  // flush_completion's disk job: commits rows of pieces that are still verified, serialized
  // with eviction jobs (storage_mutex_), so a row never outlives the bytes it vouches for.
  Result<void> commit_rows(std::vector<PieceIndex> pieces, std::vector<FileRecord> files);

  // torrent_uploads.cpp
  const char* on_request(PeerConnection& peer, const wire::Message& msg);
  void on_cancel(PeerConnection& peer, const wire::Message& msg);
  void pump_uploads(PeerConnection& peer);
  void reject_uploads(PeerConnection& peer);

  std::shared_ptr<boost::asio::io_context> io_owner_;  // first: destroyed last
  SessionContext& ctx_;
  const Metainfo metainfo_;
  const TorrentConfig config_;
  std::unique_ptr<DataStore> store_;
  const TorrentId id_;
  PiecePicker picker_;

  // Read side (any thread).
  std::unique_ptr<std::atomic<bool>[]> have_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> file_have_;
  std::atomic<std::uint64_t> have_bytes_{0};
  std::atomic<std::uint32_t> pieces_have_{0};
  std::atomic<std::uint64_t> downloaded_{0};
  std::atomic<std::uint64_t> uploaded_{0};
  std::uint64_t prior_uploaded_ = 0;  // set before start(), then read-only
  std::uint64_t prior_downloaded_ = 0;
  std::atomic<double> download_rate_{0};
  std::atomic<double> upload_rate_{0};
  std::atomic<std::uint32_t> num_peers_{0};
  std::atomic<std::uint32_t> num_seeds_{0};
  std::atomic<std::uint32_t> num_web_seeds_{0};        // torrent_webseed.cpp
  std::atomic<std::uint64_t> web_seed_downloaded_{0};  // torrent_webseed.cpp
  std::atomic<WaitTicket> next_ticket_{1};
  // Cache budget (torrent_cache.cpp): per-piece read pins and last-use stamps (any thread,
  // allocated by start()); the engine-side part; commits vs evictions on disk workers.
  std::unique_ptr<std::atomic<std::uint32_t>[]> pins_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> last_used_;
  std::shared_ptr<TorrentCache> cache_;  // shared_ptr: destroyed where it is incomplete
  std::mutex storage_mutex_;
  mutable std::mutex accept_mutex_;  // guards accepting_ against stop()
  bool accepting_ = true;            // false once stopping: FUSE calls answer io_error

  // Engine thread only.
  bool started_ = false;
  bool stopping_ = false;
  bool stop_finished_ = false;
  bool trackers_stopped_ = false;
  bool storage_failed_ = false;
  // torrent_guard.cpp: writing is paused (disk full / out of descriptors); verified pieces
  // that could not be written wait here, in piece order, for the periodic retry.
  bool storage_paused_ = false;
  bool write_retry_in_flight_ = false;
  std::map<std::uint32_t, Buffer> held_pieces_;
  std::uint64_t held_bytes_ = 0;
  std::unique_ptr<boost::asio::steady_timer> write_retry_timer_;
  std::function<void()> stop_done_;
  std::unique_ptr<TrackerManager> trackers_;
  boost::asio::steady_timer tick_timer_;
  std::uint64_t ticks_ = 0;
  std::unordered_map<PeerKey, std::shared_ptr<PeerConnection>> peers_;
  PeerKey next_key_ = 1;
  std::deque<Endpoint> candidates_;
  std::set<Endpoint> known_;           // candidates queued or connected
  std::set<Endpoint> self_endpoints_;  // addresses that turned out to be ourselves
  // Every address we connect out to: when to try it again. --peer peers are pinned (retried
  // for ever); tracker peers are dropped after kMaxFailures failed attempts in a row.
  struct Retry {
    Clock::time_point at;
    int failures = 0;
    bool pinned = false;
  };
  std::map<Endpoint, Retry> retry_;
  std::map<std::array<std::uint8_t, 16>, int> strikes_;
  std::unordered_map<PeerKey, tcp::endpoint> peer_endpoints_;  // every peer of this session
  std::unordered_map<std::uint32_t, Buffer> piece_data_;       // pieces being received
  std::vector<Buffer> spare_buffers_;
  std::uint32_t hashing_ = 0;
  std::vector<PieceIndex> pending_commit_;
  bool commit_in_flight_ = false;
  Clock::time_point last_commit_{};
  std::uint64_t uploaded_at_last_commit_ = 0;
  std::uint64_t downloaded_at_last_commit_ = 0;
  std::vector<BlockRef> scratch_;
  std::unordered_map<WaitTicket, Waiter> waiters_;
  std::unordered_map<std::uint32_t, std::vector<WaitTicket>> piece_waiters_;
  std::unordered_map<ReaderId, PieceRange> readers_;
  std::vector<std::function<void()>> complete_callbacks_;
  std::vector<std::function<void(const Error&)>> error_callbacks_;
  bool completed_announced_ = false;
  PeerKey optimistic_ = 0;
  struct PexPeer {
    std::uint8_t id = 0;            // their ut_pex id (0: they do not speak it)
    std::uint16_t listen_port = 0;  // from their extension handshake ("p")
    ut_pex::Diff diff;              // what they have been told
    Clock::time_point last_sent{}, last_received{};
  };
  std::unordered_map<PeerKey, PexPeer> pex_;
  bool dht_running_ = false;      // a get_peers lookup is under way
  Clock::time_point next_dht_{};  // when to look ourselves up in the DHT again
  Clock::time_point next_lsd_{};  // when to announce on the local network again

  // torrent_webseed.cpp; a shared_ptr because WebSeeds is incomplete here.
  std::shared_ptr<WebSeeds> web_seeds_;
};

// Conversions between the parser-side Endpoint and Asio's.
boost::asio::ip::tcp::endpoint to_asio(const Endpoint& ep);
Endpoint from_asio(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace torfs
