// MetadataFetcher: downloads a torrent's info dictionary from peers with ut_metadata (BEP 9
// over BEP 10) for a magnet link. It runs its own minimal peer connections (handshake,
// extension handshake, ut_metadata requests; everything else a peer sends is skipped), feeds
// every piece into one shared assembler and checks the result against the info-hash.
//
// Peers come from add_peers() (x.pe, --peer, the DHT) and from the magnet's trackers, which
// it announces to itself with `left` unknown (reported as one metadata piece, so trackers count
// us as a leecher).
//
// Threading: create, call and destroy on the engine thread; `done` runs there exactly once
// (success, cancel(), or nothing left to try is NOT an end: peers may still arrive). Bounded:
// at most max_connections sockets, kMaxMetadataSize bytes of metadata.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace torfs {

struct SessionContext;
class TrackerManager;
class PeerConnection;

// Answers a ut_metadata message a torrent's peer sent under our ut_metadata::kLocalId: a
// request gets the piece of `info_bytes` (or a reject when out of range or while over 1 MiB is
// queued to the peer); anything else is ignored. Returns nullptr (never drops the peer).
const char* serve_metadata(PeerConnection& peer, std::string_view info_bytes,
                           std::string_view payload);

struct MetadataFetchOptions {
  std::vector<std::vector<std::string>> tracker_tiers;
  std::uint32_t max_connections = 30;
};

class MetadataFetcher : public std::enable_shared_from_this<MetadataFetcher> {
 public:
  // `done` receives the verified info dictionary bytes, or the error passed to cancel().
  MetadataFetcher(SessionContext& ctx, Sha1Hash info_hash, MetadataFetchOptions options,
                  std::function<void(Result<std::string>)> done);
  ~MetadataFetcher();
  void start();
  void add_peers(const std::vector<Endpoint>& peers);
  // Ends the fetch with `error` (no-op once finished). Open connections close.
  void cancel(Error error);
  bool finished() const { return finished_; }
  // Peers with an open connection (for progress messages).
  std::size_t connected() const { return connected_; }
  std::size_t known_peers() const { return tried_.size(); }
  const std::set<Endpoint>& peers() const { return tried_; }  // every peer known so far
  const Sha1Hash& info_hash() const { return info_hash_; }

 private:
  struct Peer;
  void connect_more();
  // One peer's connection; the awaitables return why it ended.
  boost::asio::awaitable<void> run_peer(std::shared_ptr<MetadataFetcher> self,
                                        std::shared_ptr<Peer> peer);
  boost::asio::awaitable<const char*> talk(Peer& peer);
  // One connection of `talk`, with or without protocol encryption (MSE/PE); `hung_up` tells
  // that the peer closed the connection before answering our handshake.
  boost::asio::awaitable<const char*> talk_once(Peer& peer, bool encrypt, bool& hung_up);
  const char* on_handshake(std::string_view bytes, Peer& peer);
  const char* on_messages(Peer& peer, std::vector<char>& buf, std::size_t pos, std::size_t& end);
  void on_peer_done(Peer& peer);
  // A ut_metadata message from `peer`; false drops the peer.
  bool on_metadata(Peer& peer, std::string_view payload);
  void fill_requests(Peer& peer);
  void finish(Result<std::string> result);

  SessionContext& ctx_;
  const Sha1Hash info_hash_;
  MetadataFetchOptions options_;
  std::function<void(Result<std::string>)> done_;
  std::unique_ptr<TrackerManager> trackers_;
  std::vector<Endpoint> queue_;
  std::set<Endpoint> tried_;
  std::map<Endpoint, int> attempts_;  // connections made to each peer
  std::vector<std::shared_ptr<Peer>> peers_;
  std::size_t connected_ = 0;
  bool finished_ = false;
  struct State;
  std::unique_ptr<State> state_;  // the assembler
};

}  // namespace torfs
