// Test helpers for tracker_test.cpp: an io_context driver, scripted fake HTTP and UDP trackers
// on 127.0.0.6 (decoy sender on 127.0.0.7), announce parameters of numbered fake peers.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/sha1.hpp"
#include "engine/bencode.hpp"
#include "engine/net/tracker_manager.hpp"
#include "engine/tracker_proto.hpp"

namespace torfs::tracker_test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using Value = bencode::Value;
using namespace std::chrono_literals;

inline Sha1Hash info_hash_for(int torrent) {
  return sha1("torfs tracker test torrent " + std::to_string(torrent));
}
inline std::uint16_t port_of_peer(int peer) {
  return static_cast<std::uint16_t>(40000 + peer);
}

inline AnnounceParams params_for(int torrent, int peer) {
  AnnounceParams p;
  p.info_hash = info_hash_for(torrent);
  const std::string id = "-TF0001-peer" + std::to_string(1000000 + peer) + "x";
  std::copy_n(id.begin(), 20, p.peer_id.begin());
  p.listen_port = port_of_peer(peer);
  p.left = 1000;
  return p;
}

// Small timeouts, deterministic tier order, no automatic retries during a test.
inline TrackerConfig fast_config() {
  TrackerConfig c;
  c.shuffle = false;
  c.http_timeout = 5s;
  c.udp_base_timeout = 200ms;
  c.udp_max_retries = 2;
  c.udp_total_timeout = 5s;
  c.stop_timeout = 1s;
  c.retry_base = 1h;
  return c;
}

inline std::uint16_t free_port(const std::string& ip) {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address(ip), 0));
  return a.local_endpoint().port();
}
// A port nothing listens on (TCP: connection refused; UDP: silence).
inline std::uint16_t closed_port() {
  return free_port("127.0.0.6");
}

// Connects to ip:port every 50 ms until `ready(socket)` says yes on a connected socket, or
// `limit` passes.
inline bool poll_tcp(const std::string& ip, std::uint16_t port, std::chrono::seconds limit,
                     const std::function<bool(tcp::socket&)>& ready) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address(ip), port), ec);
    if (!ec && ready(s)) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

inline bool wait_for_tcp(const std::string& ip, std::uint16_t port, std::chrono::seconds limit) {
  return poll_tcp(ip, port, limit, [](tcp::socket&) { return true; });
}

// opentracker starts serving before a thread of its own has read the whitelist: until then
// every announce is "not authorized" (a `stopped` one is answered without the check). A
// whitelist lists whitelist_probe() LAST; this announces it (a hash no test uses) until the
// tracker accepts it, so every line above it is loaded too.
inline Sha1Hash whitelist_probe() {
  return sha1("torfs opentracker whitelist probe");
}
inline bool wait_for_whitelist(const std::string& ip, std::uint16_t port,
                               std::chrono::seconds limit) {
  const Sha1Hash probe = whitelist_probe();
  const std::string request =
      "GET /announce?info_hash=" +
      percent_encode({reinterpret_cast<const char*>(probe.data()), probe.size()}) +
      "&peer_id=-TF0001-whitelistprb&port=1&uploaded=0&downloaded=0&left=0&compact=1 "
      "HTTP/1.0\r\n\r\n";
  return poll_tcp(ip, port, limit, [&](tcp::socket& s) {
    boost::system::error_code ec;
    asio::write(s, asio::buffer(request), ec);
    std::string reply;
    if (!ec) asio::read(s, asio::dynamic_buffer(reply), ec);  // until the tracker closes
    return reply.find("\r\n\r\nd") != std::string::npos &&
           reply.find("not authorized") == std::string::npos;
  });
}

// A child process (opentracker, openssl s_server) killed with its test, even on a crash.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv, const std::string& cwd = "") {
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

inline std::vector<std::uint16_t> ports(const std::vector<Endpoint>& peers) {
  std::vector<std::uint16_t> out;
  for (const auto& p : peers)
    out.push_back(p.port);
  return out;
}
inline bool contains(const std::vector<std::uint16_t>& v, std::uint16_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Drives an io_context from the test thread; collects every peer batch the managers report.
struct Harness {
  asio::io_context io;
  std::vector<std::vector<Endpoint>> batches;
  std::vector<std::unique_ptr<TrackerManager>> keep;  // managers a test wants to keep alive

  std::unique_ptr<TrackerManager> make(std::vector<std::vector<std::string>> tiers,
                                       AnnounceParams params, TrackerConfig config) {
    return std::make_unique<TrackerManager>(
        io, std::move(tiers), [params] { return params; },
        [this](std::vector<Endpoint> peers) { batches.push_back(std::move(peers)); }, config);
  }
  // Runs the io_context until pred() holds; false after `limit` (a safety net, not a timing
  // assertion).
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = 20s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      io.restart();
      if (io.run_for(10ms) == 0) std::this_thread::sleep_for(2ms);
    }
    return true;
  }
  void run_for(std::chrono::milliseconds d) {
    run_until([] { return false; }, d);
  }
};

inline asio::awaitable<bool> write_all(tcp::socket& s, std::string data) {
  auto [ec, n] =
      co_await asio::async_write(s, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

inline std::string http_response(const std::string& body, const std::string& status = "200 OK") {
  return "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

inline std::string compact_body(std::int64_t complete, std::int64_t interval,
                                const std::vector<std::array<std::uint8_t, 4>>& addresses,
                                const std::vector<std::uint16_t>& peer_ports) {
  std::string peers;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    peers.append(reinterpret_cast<const char*>(addresses[i].data()), 4);
    peers += static_cast<char>(peer_ports[i] >> 8);
    peers += static_cast<char>(peer_ports[i] & 0xff);
  }
  return bencode::encode(
      Value::Dict{{"complete", Value(complete)}, {"interval", Value(interval)}, {"peers", peers}});
}

inline std::string one_peer_body() {
  return compact_body(0, 1800, {{1, 2, 3, 4}}, {7});
}
// (Built outside coroutines: GCC 12 miscompiles initializer lists inside coroutine bodies.)
inline std::string failure_body(const std::string& reason) {
  return bencode::encode(Value::Dict{{"failure reason", reason}});
}
inline std::string empty_body(std::int64_t interval, std::int64_t min_interval = -1,
                              const std::string& tracker_id = "") {
  Value::Dict d{{"interval", Value(interval)}, {"peers", ""}};
  if (min_interval >= 0) d["min interval"] = Value(min_interval);
  if (!tracker_id.empty()) d["tracker id"] = tracker_id;
  return bencode::encode(Value(std::move(d)));
}

// An HTTP server whose handler writes whatever the scenario needs. `greet`, when set, is
// written right after accepting (before any request is read) and the connection closed.
class FakeHttp {
 public:
  using Handler = std::function<asio::awaitable<void>(tcp::socket&, std::string target, int index)>;

  FakeHttp(asio::io_context& io, Handler handler, std::string greet = {})
      : state_(std::make_shared<State>(io)) {
    state_->handler = std::move(handler);
    state_->greet = std::move(greet);
    asio::co_spawn(io, accept_loop(state_), asio::detached);
  }
  ~FakeHttp() { close(); }
  void close() {
    boost::system::error_code ec;
    state_->acceptor.close(ec);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.6:" + std::to_string(state_->port) + path;
  }
  std::vector<std::string> targets() const { return state_->targets; }

 private:
  struct State {
    explicit State(asio::io_context& io)
        : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.6"), 0)),
          port(acceptor.local_endpoint().port()) {}
    tcp::acceptor acceptor;
    std::uint16_t port;
    Handler handler;
    std::string greet;
    std::vector<std::string> targets;
  };

  static asio::awaitable<void> accept_loop(std::shared_ptr<State> s) {
    for (;;) {
      auto [ec, socket] = co_await s->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(s->acceptor.get_executor(), serve(s, std::move(socket)), asio::detached);
    }
  }
  static asio::awaitable<void> serve(std::shared_ptr<State> s, tcp::socket socket) {
    if (!s->greet.empty()) {
      co_await write_all(socket, s->greet);
      co_return;
    }
    std::string request;
    auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(request, 65536),
                                                   "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    const auto first = request.find(' ');
    const auto second = request.find(' ', first + 1);
    const int index = static_cast<int>(s->targets.size());
    s->targets.push_back(request.substr(first + 1, second - first - 1));
    co_await s->handler(socket, s->targets.back(), index);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    // Let the client read everything before the socket closes.
    asio::steady_timer linger(socket.get_executor(), 200ms);
    co_await linger.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  std::shared_ptr<State> state_;
};

struct UdpScript {
  int drop_connects = 0;   // silently drop this many connect requests first
  int drop_announces = 0;  // ...and announces
  bool decoys = false;     // before each reply: one with a wrong transaction id, one from 127.0.0.7
  std::string error;       // answer announces with an error packet (action 3)
  std::uint32_t interval = 1800;
};

struct UdpAnnounce {
  int event = -1;
  std::uint32_t numwant = 0;
  std::uint64_t connection_id = 0;
  std::string url_data;
};

// A BEP 15 tracker following a UdpScript. Always returns 127.0.0.1:6881, 127.0.0.2:6882 and a
// port-0 entry; decoy replies carry port 9999 so accepting one shows in the test.
class FakeUdp {
 public:
  static constexpr std::uint64_t kConnectionId = 0xC0FFEE0000000001ULL;

  FakeUdp(asio::io_context& io, UdpScript script) : state_(std::make_shared<State>(io)) {
    state_->script = std::move(script);
    asio::co_spawn(io, serve(state_), asio::detached);
  }
  ~FakeUdp() { close(); }
  void close() {
    boost::system::error_code ec;
    state_->socket.close(ec);
  }
  std::string url(const std::string& path = "") const {
    return "udp://127.0.0.6:" + std::to_string(state_->port) + path;
  }
  std::size_t connects() const { return state_->connects; }
  std::vector<UdpAnnounce> announces() const { return state_->announces; }

 private:
  struct State {
    explicit State(asio::io_context& io)
        : socket(io, udp::endpoint(asio::ip::make_address("127.0.0.6"), 0)),
          decoy(io, udp::endpoint(asio::ip::make_address("127.0.0.7"), 0)),
          port(socket.local_endpoint().port()) {}
    udp::socket socket;
    udp::socket decoy;
    std::uint16_t port;
    UdpScript script;
    std::size_t connects = 0;
    std::vector<UdpAnnounce> announces;
  };

  static std::uint32_t u32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
  }
  static void put32(std::string& s, std::uint32_t v) {
    for (int i = 3; i >= 0; --i)
      s += static_cast<char>(v >> (8 * i));
  }
  static std::string reply(std::uint32_t action, std::uint32_t tid) {
    std::string s;
    put32(s, action);
    put32(s, tid);
    return s;
  }
  static std::string announce_reply(std::uint32_t tid, std::uint32_t interval, std::uint16_t port) {
    std::string s = reply(1, tid);
    put32(s, interval);
    put32(s, 2);  // leechers
    put32(s, 5);  // seeders
    s +=
        std::string("\x7f\x00\x00\x01", 4) + static_cast<char>(port >> 8) + static_cast<char>(port);
    s += std::string("\x7f\x00\x00\x02\x1a\xe2", 6);  // 127.0.0.2:6882
    s += std::string("\x09\x09\x09\x09\x00\x00", 6);  // port 0: dropped
    return s;
  }

  static asio::awaitable<void> send(udp::socket& s, const udp::endpoint& to, std::string data) {
    co_await s.async_send_to(asio::buffer(data), to, asio::as_tuple(asio::use_awaitable));
  }

  // Sends `good` to `to`, preceded by decoys when the script asks for them.
  static asio::awaitable<void> answer(std::shared_ptr<State> st, const udp::endpoint& to,
                                      std::string good, std::string foreign_tid,
                                      std::string decoy) {
    if (st->script.decoys) {
      co_await send(st->socket, to, std::move(foreign_tid));
      co_await send(st->decoy, to, std::move(decoy));
    }
    co_await send(st->socket, to, std::move(good));
  }

  static asio::awaitable<void> serve(std::shared_ptr<State> st) {
    std::array<std::uint8_t, 2048> buf;
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await st->socket.async_receive_from(asio::buffer(buf), from,
                                                            asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      if (ec || n < 16) continue;
      const std::uint32_t action = u32(buf.data() + 8);
      const std::uint32_t tid = u32(buf.data() + 12);
      if (n == 16 && action == 0) {
        if (++st->connects <= static_cast<std::size_t>(st->script.drop_connects)) continue;
        std::string good = reply(0, tid);
        for (int i = 7; i >= 0; --i)
          good += static_cast<char>(kConnectionId >> (8 * i));
        std::string wrong = good;
        wrong[7] ^= 1;
        std::string foreign = good;
        foreign[15] ^= 0x55;  // another connection id: using it makes the announce fail
        co_await answer(st, from, good, wrong, foreign);
      } else if (n >= 98 && action == 1) {
        UdpAnnounce a;
        a.connection_id = (std::uint64_t{u32(buf.data())} << 32) | u32(buf.data() + 4);
        a.event = static_cast<int>(u32(buf.data() + 80));
        a.numwant = u32(buf.data() + 92);
        for (std::size_t off = 98; off + 2 <= n && buf[off] == 2; off += 2 + buf[off + 1]) {
          a.url_data.append(reinterpret_cast<const char*>(buf.data() + off + 2),
                            std::min<std::size_t>(buf[off + 1], n - off - 2));
        }
        st->announces.push_back(a);
        if (st->announces.size() <= static_cast<std::size_t>(st->script.drop_announces)) continue;
        if (!st->script.error.empty() || a.connection_id != kConnectionId) {
          const std::string text =
              st->script.error.empty() ? "bad connection id" : st->script.error;
          co_await send(st->socket, from, reply(3, tid) + text);
          continue;
        }
        co_await answer(st, from, announce_reply(tid, st->script.interval, 6881),
                        announce_reply(tid + 1, st->script.interval, 9999),
                        announce_reply(tid, st->script.interval, 9999));
      }
    }
  }

  std::shared_ptr<State> state_;
};

}  // namespace torfs::tracker_test
