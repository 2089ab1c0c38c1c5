// MetadataService: Session::fetch_metadata's machinery. Looks in the completion store first,
// else runs a MetadataFetcher on the engine thread, fed by x.pe / --peer peers, the magnet's
// trackers and (when the session has one) the DHT, while the caller's thread waits.
//
// Threading: fetch() from any thread but the engine thread; shutdown() on the engine thread
// (Session stop). After shutdown() every waiting and later fetch() returns an error.
#pragma once

#include <memory>
#include <mutex>
#include <set>

#include "cache/result.hpp"
#include "engine/magnet.hpp"
#include "engine/metainfo.hpp"
#include "engine/session.hpp"

namespace torfs {

struct SessionContext;
class MetadataFetcher;

class MetadataService {
 public:
  explicit MetadataService(SessionContext& ctx);
  ~MetadataService();
  Result<Metainfo> fetch(const Magnet& magnet, const MetadataRequest& request);
  void shutdown();

 private:
  Result<std::string> fetch_from_peers(const Magnet& magnet, const MetadataRequest& request);
  // Engine thread: keeps the peers of a successful fetch for the torrent added next
  // (SessionContext::metadata_peers).
  void remember_peers(const MetadataFetcher& fetcher);

  SessionContext& ctx_;
  std::mutex mutex_;
  bool stopped_ = false;
  std::set<std::shared_ptr<MetadataFetcher>> active_;  // engine thread
};

// Metainfo of a magnet from its verified info dictionary: the magnet's trackers as one tier
// each (BEP 12) and its web seeds added. Pure.
Result<Metainfo> metainfo_from_magnet(const Magnet& magnet, std::string_view info_bytes);

}  // namespace torfs
