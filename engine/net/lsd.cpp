#include "engine/net/lsd.hpp"

#include <ifaddrs.h>
#include <net/if.h>

#include <cstring>
#include <map>
#include <random>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include "engine/lsd.hpp"

namespace torfs {
namespace asio = boost::asio;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// The index of the interface holding `address`; 0 when none does.
unsigned interface_index_of(const asio::ip::address_v6& address) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return 0;
  unsigned index = 0;
  for (const ifaddrs* i = list; i && index == 0; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6) continue;
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
    asio::ip::address_v6::bytes_type bytes;
    std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
    if (asio::ip::address_v6(bytes) == address) index = if_nametoindex(i->ifa_name);
  }
  freeifaddrs(list);
  return index;
}

}  // namespace

struct LocalDiscovery::Impl : std::enable_shared_from_this<Impl> {
  // One multicast group's socket.
  struct Channel {
    explicit Channel(asio::io_context& io, bool is_v6) : socket(io), v6(is_v6) {}
    udp::socket socket;
    bool v6;
    udp::endpoint group;
    udp::endpoint sender;
    std::array<char, 1500> buffer{};
  };

  Impl(asio::io_context& io, LsdConfig c, OnPeer cb)
      : io(io), config(std::move(c)), on_peer(std::move(cb)) {}

  void receive(Channel& ch) {
    ch.socket.async_receive_from(
        asio::buffer(ch.buffer), ch.sender,
        [self = shared_from_this(), &ch](boost::system::error_code ec, std::size_t n) {
          if (self->stopped || ec == asio::error::operation_aborted) return;
          if (!ec) self->handle({ch.buffer.data(), n}, ch.sender);
          self->receive(ch);
        });
  }

  void handle(std::string_view datagram, const udp::endpoint& sender) {
    const auto now = Clock::now();
    if (now - window_start >= 1s) {
      window_start = now;
      window_count = 0;
    }
    if (++window_count > kMaxDatagramsPerSecond) return;
    auto a = lsd::parse(datagram);
    if (!a || a->cookie == cookie) return;
    Endpoint peer;
    const asio::ip::address from = sender.address();
    if (from.is_v4()) {
      peer = Endpoint::v4(from.to_v4().to_bytes(), a->port);
    } else if (from.to_v6().is_v4_mapped()) {
      peer = Endpoint::v4(asio::ip::make_address_v4(asio::ip::v4_mapped, from.to_v6()).to_bytes(),
                          a->port);
    } else if (!from.to_v6().is_link_local()) {
      const auto b = from.to_v6().to_bytes();
      std::copy(b.begin(), b.end(), peer.address.begin());
      peer.v6 = true;
      peer.port = a->port;
    } else {
      return;
    }
    for (const Sha1Hash& hash : a->info_hashes)
      on_peer(hash, peer);
  }

  Result<void> open_v4() {
    auto ch = std::make_unique<Channel>(io, false);
    boost::system::error_code ec;
    const auto group = asio::ip::make_address_v4(std::string(lsd::kMulticastV4));
    asio::ip::address_v4 iface = asio::ip::address_v4::any();
    if (!config.interface_address.empty()) {
      iface = asio::ip::make_address_v4(config.interface_address, ec);
      if (ec) {
        return make_error(std::errc::invalid_argument,
                          "LSD interface '" + config.interface_address + "' is not IPv4");
      }
    }
    ch->group = udp::endpoint(group, lsd::kPort);
    ch->socket.open(udp::v4(), ec);
    if (!ec) ch->socket.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) ch->socket.bind({asio::ip::address_v4::any(), lsd::kPort}, ec);
    if (!ec) ch->socket.set_option(asio::ip::multicast::join_group(group, iface), ec);
    if (!ec && !iface.is_unspecified())
      ch->socket.set_option(asio::ip::multicast::outbound_interface(iface), ec);
    return finish_open(std::move(ch), ec);
  }

  Result<void> open_v6() {
    auto ch = std::make_unique<Channel>(io, true);
    boost::system::error_code ec;
    const auto group = asio::ip::make_address_v6(std::string(lsd::kMulticastV6));
    unsigned iface = 0;
    if (!config.interface_address6.empty()) {
      const auto address = asio::ip::make_address_v6(config.interface_address6, ec);
      if (ec) {
        return make_error(std::errc::invalid_argument,
                          "LSD interface '" + config.interface_address6 + "' is not IPv6");
      }
      if (!address.is_unspecified() && (iface = interface_index_of(address)) == 0) {
        return make_error(
            std::errc::no_such_device,
            "IPv6 local service discovery: no interface holds " + config.interface_address6);
      }
    }
    ch->group = udp::endpoint(group, lsd::kPort);
    ch->socket.open(udp::v6(), ec);
    if (!ec) ch->socket.set_option(asio::ip::v6_only(true), ec);
    if (!ec) ch->socket.set_option(udp::socket::reuse_address(true), ec);
    if (!ec) ch->socket.bind({asio::ip::address_v6::any(), lsd::kPort}, ec);
    if (!ec) ch->socket.set_option(asio::ip::multicast::join_group(group, iface), ec);
    if (!ec && iface != 0)
      ch->socket.set_option(asio::ip::multicast::outbound_interface(iface), ec);
    return finish_open(std::move(ch), ec);
  }

  Result<void> finish_open(std::unique_ptr<Channel> ch, boost::system::error_code ec) {
    if (!ec) ch->socket.set_option(asio::ip::multicast::enable_loopback(true), ec);
    if (!ec) ch->socket.set_option(asio::ip::multicast::hops(config.ttl), ec);
    const char* family = ch->v6 ? "IPv6" : "IPv4";
    if (ec) {
      boost::system::error_code ignored;
      ch->socket.close(ignored);
      return make_error(
          std::errc::address_not_available,
          std::string(family) + " local service discovery unavailable: " + ec.message());
    }
    channels.push_back(std::move(ch));
    receive(*channels.back());
    return {};
  }

  asio::io_context& io;
  LsdConfig config;
  OnPeer on_peer;
  std::vector<std::unique_ptr<Channel>> channels;  // stable addresses: handlers hold them
  std::string unavailable;
  std::string cookie;
  std::map<Sha1Hash, Clock::time_point> last_announce;
  Clock::time_point window_start{};
  int window_count = 0;
  bool stopped = false;
};

LocalDiscovery::LocalDiscovery(asio::io_context& io, LsdConfig config, OnPeer on_peer)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(on_peer))) {
  std::random_device rd;
  impl_->cookie = "torfs-" + std::to_string(rd()) + std::to_string(rd());
}

LocalDiscovery::~LocalDiscovery() {
  stop();
}

Result<void> LocalDiscovery::start() {
  Impl& d = *impl_;
  if (!d.channels.empty()) return {};
  std::vector<Error> errors;
  if (d.config.ipv4) {
    if (auto r = d.open_v4(); !r) errors.push_back(r.error());
  }
  if (d.config.ipv6) {
    if (auto r = d.open_v6(); !r) errors.push_back(r.error());
  }
  for (const Error& e : errors)
    d.unavailable += (d.unavailable.empty() ? "" : "; ") + e.message;
  if (d.channels.empty()) {
    if (!errors.empty()) return errors.front();
    return make_error(std::errc::invalid_argument, "local service discovery: no group configured");
  }
  return {};
}

std::string LocalDiscovery::unavailable() const {
  return impl_->unavailable;
}

void LocalDiscovery::announce(const Sha1Hash& info_hash, std::uint16_t listen_port) {
  Impl& d = *impl_;
  if (d.stopped || d.channels.empty()) return;
  const auto now = Clock::now();
  auto [it, fresh] = d.last_announce.try_emplace(info_hash, now);
  if (!fresh && now - it->second < 1min) return;
  it->second = now;
  lsd::Announce a;
  a.port = listen_port;
  a.info_hashes = {info_hash};
  a.cookie = d.cookie;
  for (const auto& ch : d.channels) {
    auto bytes = std::make_shared<std::string>(lsd::encode(a, ch->v6));
    ch->socket.async_send_to(asio::buffer(*bytes), ch->group,
                             [bytes, self = impl_](boost::system::error_code, std::size_t) {});
  }
}

void LocalDiscovery::stop() {
  Impl& d = *impl_;
  if (d.stopped) return;
  d.stopped = true;
  boost::system::error_code ignored;
  for (const auto& ch : d.channels)
    ch->socket.close(ignored);
}

}  // namespace torfs
