// LocalDiscovery: BEP 14 local service discovery on the IPv4 multicast group
// 239.192.152.143:6771 and/or the IPv6 group [ff15::efc0:988f]:6771, one socket each. Torrents
// announce their info-hash (each at most once a minute, on every group joined); announces from
// other hosts (not ours: recognised by a per-session cookie) are reported as peers at the
// sender's address and the announced port. IPv6 link-local senders are not reported (they
// cannot be dialled without a scope). Bounded: at most kMaxDatagramsPerSecond datagrams are
// looked at per second, both groups together.
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
  // For the IPv6 group: an IPv6 address of the interface to multicast on (the interface that
  // holds it); empty or :: = the kernel's choice.
  std::string interface_address6;
  bool ipv4 = true;   // join the IPv4 group
  bool ipv6 = false;  // join the IPv6 group
  int ttl = 1;        // 1 = this link (BEP 14); 0 keeps the datagrams on this host (tests)
};

class LocalDiscovery {
 public:
  using OnPeer = std::function<void(const Sha1Hash& info_hash, const Endpoint& peer)>;
  static constexpr int kMaxDatagramsPerSecond = 50;

  LocalDiscovery(boost::asio::io_context& io, LsdConfig config, OnPeer on_peer);
  ~LocalDiscovery();
  LocalDiscovery(const LocalDiscovery&) = delete;
  LocalDiscovery& operator=(const LocalDiscovery&) = delete;

  // Binds 0.0.0.0:6771 and/or [::]:6771 (IPv6-only; shared with other LSD clients on this
  // host) and joins the groups. An error when no group could be joined; when one of two
  // could, it runs on that one and unavailable() says why the other is not there.
  Result<void> start();
  std::string unavailable() const;  // empty when every configured group was joined
  void announce(const Sha1Hash& info_hash, std::uint16_t listen_port);
  void stop();  // idempotent; no callback after it

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace torfs
