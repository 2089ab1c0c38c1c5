// LocalDiscovery: BEP 14 local service discovery on the IPv4 multicast group
// 239.192.152.143:6771. Torrents announce their info-hash (each at most once a minute);
// announces from other hosts (not ours: recognised by a per-session cookie) are reported as
// peers. Bounded: at most kMaxDatagramsPerSecond datagrams are looked at per second.
//
// Threading: create, call and destroy on the engine thread; the callback runs there.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "cache/result.hpp"
#include "cache/sha1.hpp"
#include "engine/endpoint.hpp"

namespace boost::asio {
class io_context;
}

namespace torfs {

struct LsdConfig {
  // IPv4 address of the interface to multicast on; empty or 0.0.0.0 = the kernel's choice.
  std::string interface_address;
  int ttl = 1;  // 1 = this link (BEP 14); 0 keeps the datagrams on this host (tests)
};

class LocalDiscovery {
 public:
  using OnPeer = std::function<void(const Sha1Hash& info_hash, const Endpoint& peer)>;
  static constexpr int kMaxDatagramsPerSecond = 50;

  LocalDiscovery(boost::asio::io_context& io, LsdConfig config, OnPeer on_peer);
  ~LocalDiscovery();
  LocalDiscovery(const LocalDiscovery&) = delete;
  LocalDiscovery& operator=(const LocalDiscovery&) = delete;

  // Binds 0.0.0.0:6771 (shared with other LSD clients on this host) and joins the group.
  Result<void> start();
  void announce(const Sha1Hash& info_hash, std::uint16_t listen_port);
  void stop();  // idempotent; no callback after it

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace torfs
