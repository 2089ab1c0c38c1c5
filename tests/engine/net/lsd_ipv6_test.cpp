// Local service discovery over IPv6 (BEP 14, group [ff15::efc0:988f]:6771) between two
// LocalDiscovery instances of this process, as two torfs sessions on one host would run it.
// Hop limit 0 keeps every datagram on this host (the kernel loops it back to the group's
// members, then drops it instead of sending it out). Skipped, loudly, when this host cannot
// loop IPv6 multicast back to itself (no interface with IPv6 multicast, or only a link-local
// source address, which LocalDiscovery does not report).
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/dht_routing_table.hpp"
#include "engine/lsd.hpp"
#include "engine/net/lsd.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using namespace std::chrono_literals;

// Why IPv6 multicast cannot be exercised here, or nullopt when it can: a datagram sent with
// hop limit 0 to the LSD group on a probe port must come back from a routable source.
std::optional<std::string> ipv6_multicast_unavailable() {
  asio::io_context io;
  boost::system::error_code ec;
  const auto group = asio::ip::make_address_v6(std::string(lsd::kMulticastV6));
  udp::socket rx(io), tx(io);
  rx.open(udp::v6(), ec);
  if (!ec) rx.bind({asio::ip::address_v6::any(), 0}, ec);
  if (!ec) rx.set_option(asio::ip::multicast::join_group(group), ec);
  if (!ec) tx.open(udp::v6(), ec);
  if (!ec) tx.set_option(asio::ip::multicast::hops(0), ec);
  if (!ec) tx.set_option(asio::ip::multicast::enable_loopback(true), ec);
  if (!ec) tx.send_to(asio::buffer("probe", 5), {group, rx.local_endpoint().port()}, 0, ec);
  if (ec) return "IPv6 multicast: " + ec.message();
  rx.non_blocking(true);
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < end) {
    std::array<char, 16> buf;
    udp::endpoint from;
    rx.receive_from(asio::buffer(buf), from, 0, ec);
    if (!ec) {
      if (from.address().to_v6().is_link_local()) return "only a link-local IPv6 source address";
      return std::nullopt;
    }
    io.run_for(20ms);
  }
  return "an IPv6 multicast datagram with hop limit 0 did not loop back within 5 s";
}

LsdConfig ipv6_only() {
  LsdConfig c;
  c.ipv4 = false;
  c.ipv6 = true;
  c.ttl = 0;
  return c;
}

TEST(LsdIpv6, SessionsOnOneHostFindEachOther) {
  if (const auto why = ipv6_multicast_unavailable()) {
    std::fprintf(stderr,
                 "\n*** SKIPPING IPv6 LSD test: this host cannot loop IPv6 multicast back "
                 "to itself (%s) ***\n\n",
                 why->c_str());
    GTEST_SKIP() << "IPv6 multicast not available on this host: " << *why;
  }
  asio::io_context io;
  // Random info-hashes: announces of other LSD users on this host are told apart.
  const Sha1Hash mine = dht::random_node_id(), theirs = dht::random_node_id();
  std::vector<std::pair<Sha1Hash, Endpoint>> heard_a, heard_b;
  LocalDiscovery a(io, ipv6_only(), [&](const Sha1Hash& h, const Endpoint& p) {
    if (h == mine || h == theirs) heard_a.emplace_back(h, p);
  });
  LocalDiscovery b(io, ipv6_only(), [&](const Sha1Hash& h, const Endpoint& p) {
    if (h == mine || h == theirs) heard_b.emplace_back(h, p);
  });
  auto ra = a.start();
  ASSERT_TRUE(ra.ok()) << ra.error().message;
  ASSERT_TRUE(b.start().ok());
  EXPECT_EQ(a.unavailable(), "");
  a.announce(mine, 4321);
  b.announce(theirs, 4322);
  const auto end = std::chrono::steady_clock::now() + 20s;
  while ((heard_a.empty() || heard_b.empty()) && std::chrono::steady_clock::now() < end)
    io.run_for(20ms);
  // Each hears the other's announce, never its own (the cookie).
  ASSERT_EQ(heard_b.size(), 1u);
  EXPECT_EQ(heard_b[0].first, mine);
  EXPECT_TRUE(heard_b[0].second.v6);
  EXPECT_EQ(heard_b[0].second.port, 4321);
  ASSERT_EQ(heard_a.size(), 1u);
  EXPECT_EQ(heard_a[0].first, theirs);
  EXPECT_EQ(heard_a[0].second.port, 4322);
  EXPECT_EQ(heard_a[0].second.address, heard_b[0].second.address);  // one host
}

TEST(LsdIpv6, NoGroupConfiguredIsAnError) {
  asio::io_context io;
  LsdConfig c;
  c.ipv4 = false;
  LocalDiscovery none(io, c, [](const Sha1Hash&, const Endpoint&) {});
  auto r = none.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no group"), std::string::npos) << r.error().message;
}

TEST(LsdIpv6, AnInterfaceAddressNoInterfaceHoldsIsReported) {
  asio::io_context io;
  LsdConfig c = ipv6_only();
  c.interface_address6 = "2001:db8::dead";  // documentation prefix: on no interface
  LocalDiscovery lsd(io, c, [](const Sha1Hash&, const Endpoint&) {});
  auto r = lsd.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no interface holds 2001:db8::dead"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace torfs
