// DhtNode: which address families run (dht_family.cpp does the networking of each), the shared
// node id, the persisted state of all families, and lookups spread over every family.
#include "engine/net/dht_node.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fstream>

#include "engine/dht_routing_table.hpp"
#include "engine/net/dht_family.hpp"

namespace torfs {
namespace {

constexpr std::size_t kMaxStateFileSize = 64 * 1024;

bool is_unspecified(const Endpoint& e) {
  return std::all_of(e.address.begin(), e.address.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

struct DhtNode::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::io_context& io, DhtConfig cfg)
      : io(io), config(std::move(cfg)), self(dht::random_node_id()) {}

  boost::asio::io_context& io;
  DhtConfig config;
  dht::NodeId self;
  std::vector<dht::NodeInfo> persisted;              // loaded by start(), handed to the families
  std::vector<std::unique_ptr<DhtFamily>> families;  // IPv4 first

  void load_state() {
    if (config.state_file.empty()) return;
    std::ifstream in(config.state_file, std::ios::binary);
    if (!in) return;
    std::string bytes(kMaxStateFileSize + 1, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    auto state = dht::parse_state(bytes);
    if (!state) return;  // corrupt: start over with a fresh id
    self = state->id;
    persisted = std::move(state->nodes);
  }

  // Confirmed nodes of every family, each family getting an equal share of the file's
  // capacity first (so a large IPv4 table cannot crowd the IPv6 nodes out).
  void save_state() const {
    if (config.state_file.empty() || families.empty()) return;
    std::vector<std::vector<dht::NodeInfo>> per_family;
    for (const auto& f : families)
      per_family.push_back(f->confirmed_nodes());
    const std::size_t share = dht::kMaxPersistedNodes / per_family.size();
    std::vector<dht::NodeInfo> nodes, rest;
    for (auto& list : per_family) {
      const std::size_t n = std::min(share, list.size());
      nodes.insert(nodes.end(), list.begin(), list.begin() + static_cast<std::ptrdiff_t>(n));
      rest.insert(rest.end(), list.begin() + static_cast<std::ptrdiff_t>(n), list.end());
    }
    nodes.insert(nodes.end(), rest.begin(), rest.end());
    const auto tmp = config.state_file.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << dht::serialize_state(self, nodes);
      if (!out.flush()) return;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, config.state_file, ec);
  }

  Result<void> start_family(const Endpoint& bind, bool v6) {
    auto family = std::make_unique<DhtFamily>(io, config, self, v6);
    if (auto r = family->start(bind, persisted); !r) return r;
    families.push_back(std::move(family));
    return {};
  }

  Result<void> start() {
    if (!families.empty()) return {};
    const auto listen = Endpoint::parse(config.listen);
    if (!listen) {
      return make_error(std::errc::invalid_argument,
                        "DHT listen address \"" + config.listen + "\" is not ip:port");
    }
    load_state();
    const bool dual = listen->v6 && is_unspecified(*listen) && config.dual_stack;
    if (!listen->v6 || dual) {
      Endpoint v4 = dual ? Endpoint{} : *listen;
      v4.port = listen->port;
      if (auto r = start_family(v4, false); !r) return r;
    }
    if (listen->v6) {
      Endpoint v6 = *listen;
      // The same port number for both families when free (one PORT message serves both).
      if (v6.port == 0 && !families.empty()) v6.port = families.front()->port();
      auto r = start_family(v6, true);
      if (!r && v6.port != listen->port) {
        v6.port = listen->port;
        r = start_family(v6, true);
      }
      if (!r && !dual) return r;
    }
    if (families.size() == 2) DhtFamily::pair(*families[0], *families[1]);
    families.front()->set_periodic_save([weak = weak_from_this()] {
      if (auto d = weak.lock()) d->save_state();
    });
    persisted.clear();
    return {};
  }

  DhtFamily* family(bool v6) const {
    for (const auto& f : families) {
      if (f->v6() == v6) return f.get();
    }
    return nullptr;
  }
};

DhtNode::DhtNode(boost::asio::io_context& io, DhtConfig config)
    : impl_(std::make_shared<Impl>(io, std::move(config))) {}

DhtNode::~DhtNode() {
  stop();
  impl_->families.clear();  // no family callback runs after this
}

Result<void> DhtNode::start() {
  return impl_->start();
}

std::uint16_t DhtNode::port() const {
  return impl_->families.empty() ? 0 : impl_->families.front()->port();
}

std::uint16_t DhtNode::port(bool v6) const {
  const DhtFamily* f = impl_->family(v6);
  return f ? f->port() : 0;
}

Sha1Hash DhtNode::id() const {
  return impl_->self;
}

std::size_t DhtNode::routing_table_size() const {
  std::size_t n = 0;
  for (const auto& f : impl_->families)
    n += f->routing_table_size();
  return n;
}

std::size_t DhtNode::routing_table_size(bool v6) const {
  const DhtFamily* f = impl_->family(v6);
  return f ? f->routing_table_size() : 0;
}

DhtStats DhtNode::stats() const {
  DhtStats sum;
  for (const auto& f : impl_->families) {
    const DhtStats s = f->stats();
    sum.packets_received += s.packets_received;
    sum.malformed_packets += s.malformed_packets;
    sum.queries_received += s.queries_received;
    sum.replies_rate_limited += s.replies_rate_limited;
    sum.announces_stored += s.announces_stored;
    sum.queries_sent += s.queries_sent;
    sum.query_timeouts += s.query_timeouts;
    sum.responses_received += s.responses_received;
  }
  return sum;
}

void DhtNode::stop() {
  bool was_running = false;
  for (const auto& f : impl_->families) {
    was_running = was_running || f->running();
    f->stop();
  }
  if (was_running) impl_->save_state();
}

void DhtNode::add_node(const Endpoint& node) {
  if (DhtFamily* f = impl_->family(node.v6)) f->add_node(node);
}

void DhtNode::get_peers(const Sha1Hash& info_hash, std::uint16_t announce_port,
                        std::function<void(std::vector<Endpoint>)> on_peers,
                        std::function<void()> done) {
  Impl& d = *impl_;
  if (d.families.empty()) {  // never started: done() later, unless destroyed by then
    boost::asio::post(d.io, [weak = d.weak_from_this(), done = std::move(done)] {
      if (weak.lock() && done) done();
    });
    return;
  }
  // Families report different peers (one address family each): no cross-family dedup needed.
  auto remaining = std::make_shared<std::size_t>(d.families.size());
  auto all_done = std::make_shared<std::function<void()>>(std::move(done));
  for (const auto& f : d.families) {
    f->get_peers(info_hash, announce_port, on_peers, [remaining, all_done] {
      if (--*remaining == 0 && *all_done) (*all_done)();
    });
  }
}

}  // namespace torfs
