#include "engine/net/lsd.hpp"

#include <random>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>

#include "engine/lsd.hpp"

namespace torfs {
namespace asio = boost::asio;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct LocalDiscovery::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, LsdConfig c, OnPeer cb)
      : socket(io), config(std::move(c)), on_peer(std::move(cb)) {}

  void receive() {
    socket.async_receive_from(
        asio::buffer(buffer), sender,
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (self->stopped || ec == asio::error::operation_aborted) return;
          if (!ec) self->handle({self->buffer.data(), n});
          self->receive();
        });
  }

  void handle(std::string_view datagram) {
    const auto now = Clock::now();
    if (now - window_start >= 1s) {
      window_start = now;
      window_count = 0;
    }
    if (++window_count > kMaxDatagramsPerSecond) return;
    auto a = lsd::parse(datagram);
    if (!a || a->cookie == cookie || !sender.address().is_v4()) return;
    Endpoint peer = Endpoint::v4(sender.address().to_v4().to_bytes(), a->port);
    for (const Sha1Hash& hash : a->info_hashes)
      on_peer(hash, peer);
  }

  udp::socket socket;
  LsdConfig config;
  OnPeer on_peer;
  udp::endpoint sender;
  std::array<char, 1500> buffer{};
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
  boost::system::error_code ec;
  const auto group = asio::ip::make_address_v4(std::string(lsd::kMulticastV4));
  asio::ip::address_v4 iface = asio::ip::address_v4::any();
  if (!d.config.interface_address.empty()) {
    iface = asio::ip::make_address_v4(d.config.interface_address, ec);
    if (ec) {
      return make_error(std::errc::invalid_argument,
                        "LSD interface '" + d.config.interface_address + "' is not IPv4");
    }
  }
  d.socket.open(udp::v4(), ec);
  if (!ec) d.socket.set_option(udp::socket::reuse_address(true), ec);
  if (!ec) d.socket.bind({asio::ip::address_v4::any(), lsd::kPort}, ec);
  if (!ec) d.socket.set_option(asio::ip::multicast::join_group(group, iface), ec);
  if (!ec) d.socket.set_option(asio::ip::multicast::enable_loopback(true), ec);
  if (!ec) d.socket.set_option(asio::ip::multicast::hops(d.config.ttl), ec);
  if (!ec && !iface.is_unspecified())
    d.socket.set_option(asio::ip::multicast::outbound_interface(iface), ec);
  if (ec) {
    boost::system::error_code ignored;
    d.socket.close(ignored);
    return make_error(std::errc::address_not_available,
                      "local service discovery unavailable: " + ec.message());
  }
  d.receive();
  return {};
}

void LocalDiscovery::announce(const Sha1Hash& info_hash, std::uint16_t listen_port) {
  Impl& d = *impl_;
  if (d.stopped || !d.socket.is_open()) return;
  const auto now = Clock::now();
  auto [it, fresh] = d.last_announce.try_emplace(info_hash, now);
  if (!fresh && now - it->second < 1min) return;
  it->second = now;
  lsd::Announce a;
  a.port = listen_port;
  a.info_hashes = {info_hash};
  a.cookie = d.cookie;
  auto bytes = std::make_shared<std::string>(lsd::encode(a));
  const udp::endpoint to(asio::ip::make_address_v4(std::string(lsd::kMulticastV4)), lsd::kPort);
  d.socket.async_send_to(asio::buffer(*bytes), to,
                         [bytes, self = impl_](boost::system::error_code, std::size_t) {});
}

void LocalDiscovery::stop() {
  Impl& d = *impl_;
  if (d.stopped) return;
  d.stopped = true;
  boost::system::error_code ignored;
  d.socket.close(ignored);
}

}  // namespace torfs
