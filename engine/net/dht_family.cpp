// DhtFamily: the UDP side of one address family's DHT node. Parsing, routing table, tokens, peer
// store and the lookup algorithm are pure (engine/krpc, dht_routing_table, dht_tokens,
// dht_lookup); this file only moves packets, keeps transactions and timers, and enforces the
// rate limits.
#include "engine/net/dht_family.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "engine/dht_lookup.hpp"
#include "engine/dht_routing_table.hpp"
#include "engine/dht_tokens.hpp"
#include "engine/krpc.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using dht::Clock;
using dht::TimePoint;
using namespace std::chrono_literals;

constexpr std::size_t kMaxPending = 1024;         // transactions awaiting a reply
constexpr std::size_t kMaxQueued = 2048;          // queries waiting for the outgoing rate limit
constexpr std::size_t kMaxActiveLookups = 64;     // more wait in a queue...
constexpr std::size_t kMaxWaitingLookups = 1024;  // ...of this size; beyond, done() at once
constexpr std::size_t kMaxTrackedIps = 4096;      // per-IP reply limiter entries
constexpr std::size_t kMaxReportedPeers = 2000;   // distinct peers one lookup reports
// Peers per get_peers reply: with 8 nodes of each family the reply stays under 1500 bytes.
constexpr std::size_t kMaxReplyValues4 = 50;
constexpr std::size_t kMaxReplyValues6 = 40;
constexpr std::size_t kMaxBootstrapEndpoints = 32;
constexpr auto kTick = 100ms;
constexpr auto kMaintenanceInterval = 60s;
constexpr auto kSaveInterval = 10min;
constexpr std::size_t kPingsPerMaintenance = 16;

Endpoint to_endpoint(const udp::endpoint& ep) {
  Endpoint e;
  e.port = ep.port();
  if (ep.address().is_v4()) {
    const auto b = ep.address().to_v4().to_bytes();
    std::copy(b.begin(), b.end(), e.address.begin());
  } else {
    const auto b = ep.address().to_v6().to_bytes();
    std::copy(b.begin(), b.end(), e.address.begin());
    e.v6 = true;
  }
  return e;
}

udp::endpoint to_udp(const Endpoint& e) {
  if (e.v6) {
    asio::ip::address_v6::bytes_type b;
    std::copy_n(e.address.begin(), 16, b.begin());
    return {asio::ip::address_v6(b), e.port};
  }
  asio::ip::address_v4::bytes_type b;
  std::copy_n(e.address.begin(), 4, b.begin());
  return {asio::ip::address_v4(b), e.port};
}

// Splits "host:port" / "[v6]:port"; nullopt when there is no valid port.
std::optional<std::pair<std::string, std::string>> split_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return std::nullopt;
  return std::make_pair(host, text.substr(colon + 1));
}

// Token bucket: `rate` per second, bursts of up to `rate`.
struct RateBucket {
  double tokens = 0;
  TimePoint refilled{};
  bool take(double rate, TimePoint now) {
    const double elapsed = std::chrono::duration<double>(now - refilled).count();
    tokens = std::min(rate, tokens + elapsed * rate);
    refilled = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

}  // namespace

struct DhtFamily::Impl : std::enable_shared_from_this<Impl> {
  using ReplyHandler = std::function<void(const dht::Message*)>;  // nullptr: timeout
  struct Pending {
    udp::endpoint to;
    std::optional<dht::NodeId> node_id;  // expected responder, for the routing table
    TimePoint deadline;
    ReplyHandler on_reply;
  };
  struct Outgoing {
    udp::endpoint to;
    std::optional<dht::NodeId> node_id;
    std::function<std::string(std::string_view tid)> build;
    ReplyHandler on_reply;
  };
  struct LookupState {
    dht::Lookup algo;
    bool get_peers = false;
    std::uint16_t announce_port = 0;
    std::function<void(std::vector<Endpoint>)> on_peers;
    std::function<void()> done;
    std::set<Endpoint> reported;
    std::vector<Endpoint> local_peers;  // announced to us; reported by the first step
  };

  Impl(asio::io_context& io, DhtConfig cfg, const dht::NodeId& id, bool v6)
      : io(io),
        config(std::move(cfg)),
        is_v6(v6),
        socket(io),
        tick_timer(io),
        self(id),
        table(self),
        tokens(Clock::now()),
        next_tid(static_cast<std::uint16_t>(std::random_device{}())) {}

  asio::io_context& io;
  DhtConfig config;
  const bool is_v6;
  std::weak_ptr<Impl> sibling;  // the other family of the same DhtNode, if any
  std::function<void()> periodic_save;
  udp::socket socket;
  asio::steady_timer tick_timer;
  udp::endpoint local;
  dht::NodeId self;
  dht::RoutingTable table;
  dht::TokenManager tokens;
  dht::PeerStore store;
  DhtStats stats;
  bool running = false;
  bool destroyed = false;  // set by ~DhtNode: posted user callbacks must not run

  std::array<char, dht::kMaxMessageSize + 1> recv_buffer{};
  udp::endpoint sender;

  std::map<std::uint16_t, Pending> pending;
  std::deque<Outgoing> queue;
  std::uint16_t next_tid;
  RateBucket query_budget;
  std::map<asio::ip::address, RateBucket> reply_budgets;

  std::map<std::uint64_t, LookupState> lookups;
  std::deque<std::uint64_t> waiting_lookups;  // created, not started (kMaxActiveLookups)
  std::uint64_t next_lookup = 1;
  std::vector<Endpoint> bootstrap_endpoints;
  std::vector<dht::NodeInfo> persisted_nodes;
  std::size_t resolving = 0;
  TimePoint next_maintenance{}, next_save{};

  // BEP 32 "want" for our find_node/get_peers: the families this DhtNode runs.
  dht::Want want() const {
    if (sibling.expired()) return {};
    return {.n4 = true, .n6 = true};
  }

  // --- plumbing -------------------------------------------------------------------------------

  // Runs `fn` later on the io_context unless the DhtNode is destroyed by then.
  void post_user(std::function<void()> fn) {
    asio::post(io, [self = shared_from_this(), fn = std::move(fn)] {
      if (!self->destroyed && fn) fn();
    });
  }

  bool is_self(const udp::endpoint& ep) const {
    if (ep == local) return true;
    return local.address().is_unspecified() && ep.port() == local.port() &&
           ep.address().is_loopback();
  }
  bool usable(const Endpoint& e) const {
    if (e.port == 0 || e.v6 != is_v6) return false;
    const udp::endpoint ep = to_udp(e);
    return !ep.address().is_unspecified() && !ep.address().is_multicast() && !is_self(ep);
  }

  void send(const udp::endpoint& to, std::string packet) {
    auto buffer = std::make_shared<std::string>(std::move(packet));
    socket.async_send_to(asio::buffer(*buffer), to,
                         [buffer](boost::system::error_code, std::size_t) {});
  }

  // --- outgoing queries -----------------------------------------------------------------------

  void send_query(const Endpoint& to, std::optional<dht::NodeId> node_id,
                  std::function<std::string(std::string_view)> build, ReplyHandler on_reply) {
    if (!running || !usable(to) || queue.size() >= kMaxQueued) {
      post_internal([on_reply = std::move(on_reply)] { on_reply(nullptr); });
      return;
    }
    queue.push_back(Outgoing{to_udp(to), node_id, std::move(build), std::move(on_reply)});
    pump();
  }

  // Like post_user, for internal continuations (they run after stop(), not after destruction).
  void post_internal(std::function<void()> fn) {
    asio::post(io, [self = shared_from_this(), fn = std::move(fn)] {
      if (!self->destroyed) fn();
    });
  }

  void pump() {
    const auto now = Clock::now();
    const double rate = std::max<std::uint32_t>(1, config.max_queries_per_second);
    while (running && !queue.empty() && pending.size() < kMaxPending &&
           query_budget.take(rate, now)) {
      Outgoing out = std::move(queue.front());
      queue.pop_front();
      while (pending.contains(next_tid))
        ++next_tid;
      const std::uint16_t tid = next_tid++;
      const char tid_bytes[2] = {static_cast<char>(tid >> 8), static_cast<char>(tid & 0xff)};
      send(out.to, out.build(std::string_view(tid_bytes, 2)));
      ++stats.queries_sent;
      pending.emplace(
          tid, Pending{out.to, out.node_id, now + config.query_timeout, std::move(out.on_reply)});
    }
  }

  void expire_pending(TimePoint now) {
    std::vector<Pending> expired;
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      expired.push_back(std::move(it->second));
      it = pending.erase(it);
    }
    for (Pending& p : expired) {
      ++stats.query_timeouts;
      if (p.node_id) table.failed(dht::NodeInfo{*p.node_id, to_endpoint(p.to)});
      p.on_reply(nullptr);
    }
  }

  void handle_reply(const dht::Message& m, const udp::endpoint& from) {
    if (m.transaction_id.size() != 2) return;
    const auto tid =
        static_cast<std::uint16_t>((static_cast<std::uint8_t>(m.transaction_id[0]) << 8) |
                                   static_cast<std::uint8_t>(m.transaction_id[1]));
    const auto it = pending.find(tid);
    if (it == pending.end() || it->second.to != from) return;  // late, forged or foreign
    Pending p = std::move(it->second);
    pending.erase(it);
    ++stats.responses_received;
    if (m.kind == dht::MessageKind::response) {
      table.heard_from(dht::NodeInfo{m.response.id, to_endpoint(from)}, true, Clock::now());
    }
    p.on_reply(&m);
    pump();
  }

  // --- serving queries ------------------------------------------------------------------------

  bool may_reply(const udp::endpoint& to, TimePoint now) {
    auto it = reply_budgets.find(to.address());
    if (it == reply_budgets.end()) {
      if (reply_budgets.size() >= kMaxTrackedIps) forget_idle_ips(now);
      if (reply_budgets.size() >= kMaxTrackedIps) return false;
      const double burst = config.max_replies_per_ip_per_second;
      it = reply_budgets.emplace(to.address(), RateBucket{burst, now}).first;
    }
    return it->second.take(config.max_replies_per_ip_per_second, now);
  }

  // An IP idle for a second has a full bucket again: its entry carries no information.
  void forget_idle_ips(TimePoint now) {
    std::erase_if(reply_budgets, [&](const auto& kv) { return now - kv.second.refilled > 1s; });
  }

  std::vector<dht::NodeInfo> closest_usable(const dht::NodeId& target) const {
    auto nodes = table.find_closest(target, dht::kBucketSize * 2);
    std::erase_if(nodes, [&](const dht::NodeInfo& n) { return !usable(n.endpoint); });
    if (nodes.size() > dht::kBucketSize) nodes.resize(dht::kBucketSize);
    return nodes;
  }

  // The closest nodes of each family the querier wants (BEP 32); without "want", of ours. The
  // other family's come from the sibling's table (none when this DhtNode does not run it).
  std::vector<dht::NodeInfo> wanted_nodes(const dht::NodeId& target, dht::Want want) const {
    const bool mine = want.any() ? (is_v6 ? want.n6 : want.n4) : true;
    const bool other = is_v6 ? want.n4 : want.n6;
    std::vector<dht::NodeInfo> nodes;
    if (mine) nodes = closest_usable(target);
    if (const auto sib = sibling.lock(); other && sib && sib->running) {
      auto more = sib->closest_usable(target);
      nodes.insert(nodes.end(), more.begin(), more.end());
    }
    return nodes;
  }

  // Nodes of this family that the sibling heard of: pinged (added when they answer) while our
  // table is small, so a family with no bootstrap node of its own still gets in.
  void learn(const std::vector<dht::NodeInfo>& nodes) {
    if (!running || table.size() >= dht::kBucketSize) return;
    for (const auto& n : nodes) {
      if (usable(n.endpoint) && n.id != self) ping(n.endpoint, n.id);
    }
  }

  void handle_query(const dht::Message& m, const udp::endpoint& from, TimePoint now) {
    ++stats.queries_received;
    if (!may_reply(from, now)) {
      ++stats.replies_rate_limited;
      return;
    }
    const dht::Query& q = m.query;
    const Endpoint requester = to_endpoint(from);
    if (!q.read_only) table.heard_from(dht::NodeInfo{q.id, requester}, false, now);
    dht::Response r;
    r.id = self;
    switch (q.method) {
      case dht::Method::ping:
        break;
      case dht::Method::find_node:
        r.nodes = wanted_nodes(q.target, q.want);
        break;
      case dht::Method::get_peers:
        r.token = tokens.make(requester, now);
        r.values = store.peers(q.info_hash, requester.v6,
                               requester.v6 ? kMaxReplyValues6 : kMaxReplyValues4, now);
        r.nodes = wanted_nodes(q.info_hash, q.want);
        break;
      case dht::Method::announce_peer: {
        if (!tokens.verify(q.token, requester, now)) {
          send(from, dht::build_error(m.transaction_id, dht::ErrorCode::protocol, "bad token"));
          return;
        }
        Endpoint peer = requester;
        peer.port = q.implied_port ? requester.port : q.port;
        store.announce(q.info_hash, peer, now);
        ++stats.announces_stored;
        break;
      }
      case dht::Method::unknown:
        send(from, dht::build_error(m.transaction_id, dht::ErrorCode::method_unknown,
                                    "method unknown: " + q.method_name));
        return;
    }
    send(from, dht::build_response(m.transaction_id, r));
  }

  void on_packet(std::string_view packet, const udp::endpoint& from) {
    ++stats.packets_received;
    if (from.port() == 0 || is_self(from)) return;
    auto m = dht::parse_message(packet);
    const auto now = Clock::now();
    if (!m) {
      ++stats.malformed_packets;
      const auto tid = dht::query_transaction_id(packet);
      if (tid && may_reply(from, now)) {
        send(from, dht::build_error(*tid, dht::ErrorCode::protocol, m.error().message));
      }
      return;
    }
    if (m->kind == dht::MessageKind::query) {
      handle_query(*m, from, now);
    } else {
      handle_reply(*m, from);
    }
  }

  void receive() {
    socket.async_receive_from(
        asio::buffer(recv_buffer), sender,
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (!self->running || ec == asio::error::operation_aborted) return;
          // An oversized datagram fills the buffer: parse_message refuses it.
          if (!ec) self->on_packet(std::string_view(self->recv_buffer.data(), n), self->sender);
          self->receive();
        });
  }

  // --- lookups ---------------------------------------------------------------------------------

  std::uint64_t create_lookup(const dht::NodeId& target, bool get_peers, std::uint16_t port,
                              std::function<void(std::vector<Endpoint>)> on_peers,
                              std::function<void()> done, std::vector<Endpoint> local_peers = {}) {
    const std::uint64_t id = next_lookup++;
    lookups.emplace(id, LookupState{dht::Lookup(target),
                                    get_peers,
                                    port,
                                    std::move(on_peers),
                                    std::move(done),
                                    {},
                                    std::move(local_peers)});
    auto& l = lookups.at(id);
    for (const auto& n : closest_usable(target))
      l.algo.add(n);
    if (table.size() < dht::kBucketSize) {
      for (const auto& n : persisted_nodes) {
        if (usable(n.endpoint)) l.algo.add(n);
      }
      for (const auto& e : bootstrap_endpoints)
        l.algo.add_unknown(e);
    }
    if (lookups.size() - waiting_lookups.size() > kMaxActiveLookups) {
      waiting_lookups.push_back(id);
    } else {
      post_internal([this, id] { step(id); });
    }
    return id;
  }

  void report(LookupState& l, const std::vector<Endpoint>& values) {
    std::vector<Endpoint> fresh;
    for (const Endpoint& e : values) {
      if (l.reported.size() >= kMaxReportedPeers) break;
      if (e.port != 0 && l.reported.insert(e).second) fresh.push_back(e);
    }
    if (!fresh.empty() && l.on_peers) l.on_peers(std::move(fresh));
  }

  void step(std::uint64_t id) {
    auto it = lookups.find(id);
    if (it == lookups.end() || !running) return;
    LookupState& l = it->second;
    if (!l.local_peers.empty()) report(l, std::exchange(l.local_peers, {}));
    const dht::NodeId target = l.algo.target();
    for (const dht::NodeInfo& n : l.algo.next()) {
      const bool known = n.id != dht::NodeId{};
      auto build = [this, target, gp = l.get_peers, want = want()](std::string_view tid) {
        return gp ? dht::build_get_peers(tid, self, target, want)
                  : dht::build_find_node(tid, self, target, want);
      };
      send_query(
          n.endpoint, known ? std::optional(n.id) : std::nullopt, build,
          [this, id, ep = n.endpoint](const dht::Message* m) { on_lookup_reply(id, ep, m); });
    }
    if (l.algo.finished()) finish(id);
  }

  void on_lookup_reply(std::uint64_t id, const Endpoint& from, const dht::Message* m) {
    auto it = lookups.find(id);
    if (it == lookups.end()) return;
    LookupState& l = it->second;
    if (!m || m->kind != dht::MessageKind::response) {
      l.algo.on_failure(from);
    } else {
      std::vector<dht::NodeInfo> nodes, others;
      for (const auto& n : m->response.nodes) {
        if (usable(n.endpoint) && n.id != self) nodes.push_back(n);
        if (n.endpoint.v6 != is_v6) others.push_back(n);
      }
      if (const auto sib = sibling.lock(); sib && !others.empty()) sib->learn(others);
      l.algo.on_response(from, m->response.id, nodes, m->response.token);
      if (l.get_peers) report(l, m->response.values);
    }
    step(id);
  }

  void finish(std::uint64_t id) {
    auto node = lookups.extract(id);
    LookupState& l = node.mapped();
    table.touch(l.algo.target(), Clock::now());
    if (l.announce_port != 0) {
      for (const auto& [n, token] : l.algo.closest_with_tokens()) {
        auto build = [this, target = l.algo.target(), port = l.announce_port,
                      token = token](std::string_view tid) {
          return dht::build_announce_peer(tid, self, target, port, token, false);
        };
        send_query(n.endpoint, n.id, build, [](const dht::Message*) {});
      }
    }
    if (l.done) post_user(std::move(l.done));
    if (!waiting_lookups.empty() && lookups.size() - waiting_lookups.size() < kMaxActiveLookups) {
      const std::uint64_t next = waiting_lookups.front();
      waiting_lookups.pop_front();
      post_internal([this, next] { step(next); });
    }
  }

  // --- maintenance, bootstrap, persistence ----------------------------------------------------

  void tick() {
    tick_timer.expires_after(kTick);
    tick_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !self->running) return;
      const auto now = Clock::now();
      self->expire_pending(now);
      self->pump();
      if (now >= self->next_maintenance) self->maintain(now);
      self->tick();
    });
  }

  void maintain(TimePoint now) {
    next_maintenance = now + kMaintenanceInterval;
    store.expire(now);
    forget_idle_ips(now);
    for (const auto& n : table.questionable(now, kPingsPerMaintenance))
      ping(n.endpoint, n.id);
    if (table.size() < dht::kBucketSize) {
      bootstrap_lookup();
    } else {
      for (const auto& target : table.refresh_targets(now)) {
        create_lookup(target, false, 0, nullptr, nullptr);
      }
    }
    if (now >= next_save) {
      next_save = now + kSaveInterval;
      if (periodic_save) periodic_save();
    }
  }

  void ping(const Endpoint& to, std::optional<dht::NodeId> id) {
    send_query(
        to, id, [this](std::string_view tid) { return dht::build_ping(tid, self); },
        [](const dht::Message*) {});
  }

  void bootstrap_lookup() { create_lookup(self, false, 0, nullptr, nullptr); }

  void resolve_bootstrap() {
    std::vector<std::pair<std::string, std::string>> names;
    for (const std::string& entry : config.bootstrap) {
      const auto hp = split_host_port(entry);
      if (!hp) continue;
      if (const auto literal = Endpoint::parse(entry)) {
        if (literal->v6 == is_v6 && bootstrap_endpoints.size() < kMaxBootstrapEndpoints) {
          bootstrap_endpoints.push_back(*literal);
        }
      } else {
        names.push_back(*hp);
      }
    }
    if (names.empty()) return bootstrap_lookup();
    resolving = names.size();
    for (const auto& [host, service] : names) {
      auto resolver = std::make_shared<udp::resolver>(io);
      resolver->async_resolve(
          is_v6 ? udp::v6() : udp::v4(), host, service,
          [self = shared_from_this(), resolver](boost::system::error_code ec,
                                                udp::resolver::results_type results) {
            if (!self->running) return;
            for (const auto& r : results) {
              if (ec || self->bootstrap_endpoints.size() >= kMaxBootstrapEndpoints) break;
              self->bootstrap_endpoints.push_back(to_endpoint(r.endpoint()));
            }
            if (--self->resolving == 0) self->bootstrap_lookup();
          });
    }
  }

  Result<void> start(const Endpoint& bind, std::vector<dht::NodeInfo> persisted) {
    if (running) return {};
    const udp::endpoint bind_to = to_udp(bind);
    boost::system::error_code ec;
    socket.open(bind_to.protocol(), ec);
    if (!ec && is_v6) socket.set_option(asio::ip::v6_only(true), ec);
    if (!ec) socket.bind(bind_to, ec);
    if (!ec) local = socket.local_endpoint(ec);
    if (ec) {
      boost::system::error_code ignored;
      socket.close(ignored);
      return Error{static_cast<std::error_code>(ec),
                   "DHT cannot bind UDP " + bind.to_string() + ": " + ec.message()};
    }
    std::erase_if(persisted, [&](const dht::NodeInfo& n) { return n.endpoint.v6 != is_v6; });
    persisted_nodes = std::move(persisted);
    running = true;
    const auto now = Clock::now();
    query_budget = RateBucket{1, now};
    next_maintenance = now + kMaintenanceInterval;
    next_save = now + kSaveInterval;
    receive();
    tick();
    resolve_bootstrap();
    return {};
  }

  void stop() {
    if (!running) return;
    running = false;
    boost::system::error_code ignored;
    tick_timer.cancel();
    socket.close(ignored);
    pending.clear();
    queue.clear();
    waiting_lookups.clear();
    for (auto& [id, l] : lookups) {
      if (l.done) post_user(std::move(l.done));
    }
    lookups.clear();
  }
};

DhtFamily::DhtFamily(asio::io_context& io, const DhtConfig& config, const dht::NodeId& self,
                     bool v6)
    : impl_(std::make_shared<Impl>(io, config, self, v6)) {}

DhtFamily::~DhtFamily() {
  impl_->stop();
  impl_->destroyed = true;
}

Result<void> DhtFamily::start(const Endpoint& bind, std::vector<dht::NodeInfo> persisted) {
  return impl_->start(bind, std::move(persisted));
}
void DhtFamily::pair(DhtFamily& a, DhtFamily& b) {
  a.impl_->sibling = b.impl_;
  b.impl_->sibling = a.impl_;
}
void DhtFamily::set_periodic_save(std::function<void()> save) {
  impl_->periodic_save = std::move(save);
}
bool DhtFamily::v6() const {
  return impl_->is_v6;
}
std::uint16_t DhtFamily::port() const {
  return impl_->local.port();
}
bool DhtFamily::running() const {
  return impl_->running;
}
std::size_t DhtFamily::routing_table_size() const {
  return impl_->table.size();
}
DhtStats DhtFamily::stats() const {
  return impl_->stats;
}
void DhtFamily::stop() {
  impl_->stop();
}

std::vector<dht::NodeInfo> DhtFamily::confirmed_nodes() const {
  std::vector<dht::NodeInfo> nodes;
  for (const auto& e : impl_->table.entries()) {
    if (e.confirmed()) nodes.push_back(e.node);
  }
  return nodes;
}

void DhtFamily::add_node(const Endpoint& node) {
  if (impl_->usable(node)) impl_->ping(node, std::nullopt);
}

void DhtFamily::get_peers(const Sha1Hash& info_hash, std::uint16_t announce_port,
                          std::function<void(std::vector<Endpoint>)> on_peers,
                          std::function<void()> done) {
  Impl& d = *impl_;
  if (!d.running || d.lookups.size() >= kMaxActiveLookups + kMaxWaitingLookups) {
    d.post_user(std::move(done));
    return;
  }
  auto local = d.store.peers(info_hash, d.is_v6, kMaxReportedPeers, Clock::now());
  d.create_lookup(info_hash, true, announce_port, std::move(on_peers), std::move(done),
                  std::move(local));
}

}  // namespace torfs
