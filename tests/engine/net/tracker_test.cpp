// TrackerManager against a real opentracker (HTTP and UDP) and against scripted malicious
// HTTP and UDP trackers on loopback. Fake trackers live on 127.0.0.6, opentracker on 127.0.0.5.
#include "engine/net/tracker_manager.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "engine/bencode.hpp"
#include "tests/engine/net/tracker_test_util.hpp"

namespace torfs {
namespace {

using namespace std::chrono_literals;
using namespace tracker_test;

// --- opentracker ------------------------------------------------------------------------------

class OpenTrackerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        std::filesystem::temp_directory_path() / ("torfs-opentracker-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    ::chmod(dir_.c_str(), 0755);  // opentracker drops to `nobody` before reading the list
    {
      std::ofstream wl(dir_ / "whitelist");
      for (int i = 0; i < 8; ++i)
        wl << to_hex(info_hash_for(i)) << '\n';
      wl << to_hex(whitelist_probe()) << '\n';
    }
    ::chmod((dir_ / "whitelist").c_str(), 0644);
    port_ = free_port("127.0.0.5");
    const std::string port = std::to_string(port_);
    opentracker_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"opentracker", "-i", "127.0.0.5", "-p", port, "-P", port, "-d",
                                 dir_.string(), "-w", "whitelist"},
        dir_.string());
    ASSERT_TRUE(opentracker_->started());
    ASSERT_TRUE(wait_for_tcp("127.0.0.5", port_, 10s)) << "opentracker did not start";
    ASSERT_TRUE(wait_for_whitelist("127.0.0.5", port_, 10s))
        << "opentracker did not load its whitelist";
  }
  static void TearDownTestSuite() {
    opentracker_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static std::string http_url() {
    return "http://127.0.0.5:" + std::to_string(port_) + "/announce";
  }
  static std::string udp_url() { return "udp://127.0.0.5:" + std::to_string(port_) + "/announce"; }

  // Announces `started` as the given peer and returns the ports of the peers it was told about.
  std::vector<std::uint16_t> join(Harness& h, const std::string& url, int torrent, int peer) {
    auto m = h.make({{url}}, params_for(torrent, peer), fast_config());
    const std::size_t before = h.batches.size();
    m->start();
    EXPECT_TRUE(h.run_until([&] { return h.batches.size() > before; }))
        << m->status()[0].last_error;
    h.keep.push_back(std::move(m));
    return h.batches.size() > before ? ports(h.batches.back()) : std::vector<std::uint16_t>{};
  }

  void peers_see_each_other(const std::string& url, int torrent) {
    Harness h;
    const auto first = join(h, url, torrent, 1);
    EXPECT_TRUE(contains(first, port_of_peer(1)));
    const auto second = join(h, url, torrent, 2);
    EXPECT_TRUE(contains(second, port_of_peer(1)));
    EXPECT_TRUE(contains(second, port_of_peer(2)));
    // The first peer announces again (a new session of it) and now sees the second.
    const auto again = join(h, url, torrent, 1);
    EXPECT_TRUE(contains(again, port_of_peer(2)));
    const auto status = h.keep.back()->status();
    ASSERT_EQ(1u, status.size());
    EXPECT_TRUE(status[0].working);
    EXPECT_EQ("", status[0].last_error);
    EXPECT_EQ(2u, status[0].leechers.value_or(0));
  }

  static inline std::filesystem::path dir_;
  static inline std::uint16_t port_ = 0;
  static inline std::unique_ptr<ChildProcess> opentracker_;
};

TEST_F(OpenTrackerTest, HttpPeersSeeEachOther) {
  peers_see_each_other(http_url(), 0);
}

TEST_F(OpenTrackerTest, UdpPeersSeeEachOther) {
  peers_see_each_other(udp_url(), 1);
}

TEST_F(OpenTrackerTest, StoppedRemovesThePeer) {
  for (const std::string& url : {http_url(), udp_url()}) {
    const int torrent = url == http_url() ? 2 : 3;
    Harness h;
    auto a = h.make({{url}}, params_for(torrent, 1), fast_config());
    a->start();
    ASSERT_TRUE(h.run_until([&] { return a->status()[0].working; }))
        << url << ": " << a->status()[0].last_error;
    EXPECT_TRUE(contains(join(h, url, torrent, 2), port_of_peer(1)));
    bool done = false;
    a->stop([&] { done = true; });
    ASSERT_TRUE(h.run_until([&] { return done; }));
    const auto third = join(h, url, torrent, 3);
    EXPECT_TRUE(contains(third, port_of_peer(2))) << url;
    EXPECT_FALSE(contains(third, port_of_peer(1))) << url;
  }
}

TEST_F(OpenTrackerTest, BadTiersDoNotStopGoodOnes) {
  Harness h;
  const std::string dead_http = "http://127.0.0.6:" + std::to_string(closed_port()) + "/a";
  const std::string dead_udp = "udp://127.0.0.6:" + std::to_string(closed_port()) + "/a";
  FakeHttp failing(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, http_response(failure_body("no")));
  });
  auto m = h.make({{dead_http}, {dead_udp}, {failing.url("/announce")}, {http_url()}},
                  params_for(4, 1), fast_config());
  m->start();
  ASSERT_TRUE(h.run_until([&] {
    const auto s = m->status();
    return std::all_of(s.begin(), s.end(),
                       [](const TrackerStatus& t) { return t.working || !t.last_error.empty(); });
  }));
  const auto s = m->status();
  ASSERT_EQ(4u, s.size());
  EXPECT_FALSE(s[0].working);
  EXPECT_NE(std::string::npos, s[0].last_error.find("connecting")) << s[0].last_error;
  EXPECT_FALSE(s[1].working);
  EXPECT_NE(std::string::npos, s[1].last_error.find("no reply")) << s[1].last_error;
  EXPECT_EQ("no", s[2].last_error);
  EXPECT_TRUE(s[3].working) << s[3].last_error;
  ASSERT_FALSE(h.batches.empty());
  EXPECT_TRUE(contains(ports(h.batches.back()), port_of_peer(1)));
}

TEST_F(OpenTrackerTest, TierFallsBackAndTheAnsweringTrackerMovesToTheFront) {
  Harness h;
  const std::string dead = "http://127.0.0.6:" + std::to_string(closed_port()) + "/a";
  auto m = h.make({{dead, http_url()}}, params_for(5, 1), fast_config());
  m->start();
  ASSERT_TRUE(h.run_until([&] { return !h.batches.empty(); }));
  const auto s = m->status();
  ASSERT_EQ(2u, s.size());
  EXPECT_EQ(http_url(), s[0].url);
  EXPECT_TRUE(s[0].working);
  EXPECT_GT(s[0].next_announce_in_s, 0);
  EXPECT_EQ(dead, s[1].url);
  EXPECT_FALSE(s[1].working);
}

// opentracker records the sender's address as the peer's: with a bind address the announce
// leaves from it, so other peers are told the address the first one listens on.
TEST_F(OpenTrackerTest, BoundAnnouncesComeFromTheBindAddress) {
  for (const std::string& url : {http_url(), udp_url()}) {
    const int torrent = url == http_url() ? 6 : 7;
    Harness h;
    TrackerConfig bound = fast_config();
    bound.bind_address = "127.0.0.9";
    auto a = h.make({{url}}, params_for(torrent, 1), bound);
    a->start();
    ASSERT_TRUE(h.run_until([&] {
      const auto s = a->status()[0];
      return s.working || !s.last_error.empty();
    }));
    ASSERT_TRUE(a->status()[0].working) << url << ": " << a->status()[0].last_error;
    const auto before = h.batches.size();
    join(h, url, torrent, 2);
    ASSERT_GT(h.batches.size(), before) << url;
    const auto expected = Endpoint::parse("127.0.0.9:" + std::to_string(port_of_peer(1)));
    ASSERT_TRUE(expected);
    const auto& seen = h.batches.back();
    EXPECT_NE(seen.end(), std::find(seen.begin(), seen.end(), *expected))
        << url << ": peer 1 is not listed as " << expected->to_string();
  }
}

// --- malicious and scripted HTTP trackers ---------------------------------------------------

TrackerStatus announce_once(Harness& h, const std::string& url, TrackerConfig config) {
  auto m = h.make({{url}}, params_for(0, 1), config);
  m->start();
  EXPECT_TRUE(h.run_until([&] {
    const auto s = m->status()[0];
    return s.working || !s.last_error.empty();
  }));
  h.keep.push_back(std::move(m));
  return h.keep.back()->status()[0];
}

TEST(MaliciousHttpTracker, OversizedBodyIsRejected) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    const std::size_t size = 3 * 1024 * 1024;
    co_await write_all(s,
                       "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
    const std::string chunk(64 * 1024, 'x');
    for (std::size_t sent = 0; sent < size; sent += chunk.size()) {
      if (!co_await write_all(s, chunk)) co_return;
    }
  });
  const auto s = announce_once(h, server.url("/announce"), fast_config());
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("exceeds")) << s.last_error;
}

TEST(MaliciousHttpTracker, EndlessChunkedBodyIsCut) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "4000\r\n" + std::string(0x4000, 'd') + "\r\n";
    while (co_await write_all(s, chunk)) {
    }
  });
  TrackerConfig config = fast_config();
  config.http_timeout = 60s;  // the body limit, not the timeout, must end this
  const auto s = announce_once(h, server.url("/announce"), config);
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("exceeds")) << s.last_error;
}

TEST(MaliciousHttpTracker, RedirectLoopIsDetected) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string target, int) -> asio::awaitable<void> {
    const std::string next = target.rfind("/a", 0) == 0 ? "/b" : "/a";
    co_await write_all(s,
                       "HTTP/1.1 302 Found\r\nLocation: " + next + "\r\nContent-Length: 0\r\n\r\n");
  });
  const auto s = announce_once(h, server.url("/a"), fast_config());
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("redirect loop")) << s.last_error;
  // /a?query -> /b -> /a -> /b: the second /b is recognised without being fetched.
  EXPECT_EQ(3u, server.targets().size());
}

TEST(MaliciousHttpTracker, RedirectsAreBounded) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int index) -> asio::awaitable<void> {
    co_await write_all(s, "HTTP/1.1 301 Moved\r\nLocation: /r" + std::to_string(index + 1) +
                              "\r\nContent-Length: 0\r\n\r\n");
  });
  const auto s = announce_once(h, server.url("/r0"), fast_config());
  EXPECT_NE(std::string::npos, s.last_error.find("more than 5 redirects")) << s.last_error;
  EXPECT_EQ(6u, server.targets().size());
}

TEST(MaliciousHttpTracker, RedirectIsFollowedWithItsQuery) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string target, int) -> asio::awaitable<void> {
    if (target.rfind("/old", 0) == 0) {
      const std::string query = target.substr(target.find('?'));
      co_await write_all(s, "HTTP/1.1 307 Temporary Redirect\r\nLocation: /new" + query +
                                "\r\nContent-Length: 0\r\n\r\n");
    } else {
      co_await write_all(s, http_response(one_peer_body()));
    }
  });
  const auto s = announce_once(h, server.url("/old"), fast_config());
  EXPECT_TRUE(s.working) << s.last_error;
  ASSERT_EQ(2u, server.targets().size());
  EXPECT_EQ(0u, server.targets()[1].find("/new?info_hash="));
}

TEST(MaliciousHttpTracker, SlowTrickleTimesOut) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    const std::string reply = http_response(one_peer_body());
    for (char c : reply) {
      if (!co_await write_all(s, std::string(1, c))) co_return;
      asio::steady_timer t(s.get_executor(), 300ms);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  });
  TrackerConfig config = fast_config();
  config.http_timeout = 1s;
  const auto s = announce_once(h, server.url("/announce"), config);
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("timed out")) << s.last_error;
}

TEST(MaliciousHttpTracker, OddCompactListPortZeroAndIntervalZero) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    std::string body = compact_body(0, 0, {{1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}}, {10, 0, 30});
    // Make the compact string 5 bytes longer than its whole entries.
    const auto at = body.find("18:");
    body.replace(at, 3, "23:");
    body.insert(body.size() - 1, "\x09\x09\x09\x09\x09");
    co_await write_all(s, http_response(body));
  });
  const auto s = announce_once(h, server.url("/announce"), fast_config());
  ASSERT_TRUE(s.working) << s.last_error;
  EXPECT_EQ(2u, s.peers_last);
  ASSERT_EQ(1u, h.batches.size());
  EXPECT_EQ((std::vector<std::uint16_t>{10, 30}), ports(h.batches[0]));
  EXPECT_GT(s.next_announce_in_s, 0);  // interval 0 became 60 s: no announce storm
  EXPECT_LE(s.next_announce_in_s, 60);
  EXPECT_EQ(1u, server.targets().size());
}

TEST(MaliciousHttpTracker, HugeIntervalIsClamped) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, http_response(compact_body(0, std::int64_t{1} << 31, {}, {})));
  });
  const auto s = announce_once(h, server.url("/announce"), fast_config());
  ASSERT_TRUE(s.working) << s.last_error;
  EXPECT_GT(s.next_announce_in_s, 86'000);
  EXPECT_LE(s.next_announce_in_s, 86'400);
}

TEST(MaliciousHttpTracker, FailureIsReportedAndRetriedWithBackoff) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, http_response(failure_body("banned"), "400 Bad Request"));
  });
  TrackerConfig config = fast_config();
  config.retry_base = 100ms;
  const auto s = announce_once(h, server.url("/announce"), config);
  EXPECT_FALSE(s.working);
  EXPECT_EQ("banned", s.last_error);
  EXPECT_TRUE(h.run_until([&] { return server.targets().size() >= 3; }));
}

TEST(MaliciousHttpTracker, NonBencodedErrorPageNamesTheStatus) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, http_response("<html>oops</html>", "502 Bad Gateway"));
  });
  const auto s = announce_once(h, server.url("/announce"), fast_config());
  EXPECT_NE(std::string::npos, s.last_error.find("HTTP status 502")) << s.last_error;
}

TEST(HttpTracker, HttpsToAPlainServerFailsTheHandshake) {
  Harness h;
  FakeHttp server(
      h.io, [](tcp::socket&, std::string, int) -> asio::awaitable<void> { co_return; },
      /*greet=*/"HTTP/1.1 400 Bad Request\r\n\r\n");
  std::string url = server.url("/announce");
  url.replace(0, 4, "https");
  const auto s = announce_once(h, url, fast_config());
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("TLS handshake")) << s.last_error;
}

// A real TLS server (openssl s_server -www answers any GET with an HTML status page) with a
// self-signed certificate for 127.0.0.6: refused with the system CAs only, accepted (and then
// the HTML fails to parse as a tracker response) once the certificate is trusted.
TEST(HttpTracker, HttpsVerifiesTheCertificate) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  const auto dir =
      std::filesystem::temp_directory_path() / ("torfs-https-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.6 -addext subjectAltName=IP:127.0.0.6 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(0, std::system(make_cert.c_str()));
  const std::uint16_t port = free_port("127.0.0.6");
  ChildProcess server({"openssl", "s_server", "-accept", "127.0.0.6:" + std::to_string(port),
                       "-cert", cert, "-key", key, "-www", "-quiet"});
  ASSERT_TRUE(wait_for_tcp("127.0.0.6", port, 10s));
  const std::string url = "https://127.0.0.6:" + std::to_string(port) + "/announce";

  Harness h;
  const auto untrusted = announce_once(h, url, fast_config());
  EXPECT_FALSE(untrusted.working);
  EXPECT_NE(std::string::npos, untrusted.last_error.find("TLS handshake")) << untrusted.last_error;

  TrackerConfig trusting = fast_config();
  trusting.ca_file = cert;
  const auto trusted = announce_once(h, url, trusting);
  EXPECT_FALSE(trusted.working);
  EXPECT_NE(std::string::npos, trusted.last_error.find("tracker response: not bencode"))
      << trusted.last_error;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// The TLS connection is bound too (to the lowest layer): the server sees it come from the bind
// address. The server closes at once, so the announce itself fails in the handshake.
TEST(HttpTracker, HttpsConnectionLeavesFromTheBindAddress) {
  Harness h;
  tcp::acceptor acceptor(h.io, tcp::endpoint(asio::ip::make_address("127.0.0.6"), 0));
  std::optional<tcp::endpoint> remote;
  acceptor.async_accept([&](boost::system::error_code ec, tcp::socket socket) {
    if (!ec) remote = socket.remote_endpoint(ec);
  });
  TrackerConfig bound = fast_config();
  bound.bind_address = "127.0.0.9";
  const auto s = announce_once(
      h, "https://127.0.0.6:" + std::to_string(acceptor.local_endpoint().port()) + "/a", bound);
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("TLS handshake")) << s.last_error;
  ASSERT_TRUE(remote);
  EXPECT_EQ("127.0.0.9", remote->address().to_string());
}

// An unusable bind address is an immediate error that says so, never a silent fallback to
// another source address or a wait for the timeout.
TEST(TrackerBind, UnusableBindAddressesAreClearErrors) {
  Harness h;
  FakeHttp http(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, http_response(failure_body("reached")));
  });
  FakeUdp udp(h.io, UdpScript{});
  struct Case {
    std::string bind, expected;
  };
  const std::vector<Case> cases = {
      {"192.0.2.1", "192.0.2.1"},  // TEST-NET-1: not an address of this host
      {"not-an-ip", "tracker bind address 'not-an-ip' is not an IP address"},
      {"::1", "no IPv6 address to reach from bind address ::1"},
  };
  for (const auto& c : cases) {
    for (const std::string& url : {http.url("/announce"), udp.url()}) {
      TrackerConfig config = fast_config();
      config.bind_address = c.bind;
      const auto s = announce_once(h, url, config);
      EXPECT_FALSE(s.working) << url;
      EXPECT_NE(std::string::npos, s.last_error.find(c.expected)) << url << ": " << s.last_error;
      EXPECT_EQ(std::string::npos, s.last_error.find("timed out")) << url << ": " << s.last_error;
      EXPECT_EQ(std::string::npos, s.last_error.find("no reply")) << url << ": " << s.last_error;
    }
  }
  // Unspecified addresses mean "no binding": both trackers are reached.
  for (const std::string bind : {"0.0.0.0", "::"}) {
    TrackerConfig config = fast_config();
    config.bind_address = bind;
    EXPECT_EQ("reached", announce_once(h, http.url("/announce"), config).last_error) << bind;
    EXPECT_TRUE(announce_once(h, udp.url(), config).working) << bind;
  }
}

TEST(HttpTracker, EventsTrackerIdAndStoppedNumwant) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    co_await write_all(s, http_response(empty_body(1800, -1, "T-1")));
  });
  auto m = h.make({{server.url("/announce?passkey=k")}}, params_for(0, 1), fast_config());
  m->start();
  ASSERT_TRUE(h.run_until([&] { return m->status()[0].working; }));
  m->completed();
  m->completed();  // once only
  ASSERT_TRUE(h.run_until([&] { return server.targets().size() == 2; }));
  bool done = false;
  m->stop([&] { done = true; });
  EXPECT_FALSE(done);  // never from inside stop()
  ASSERT_TRUE(h.run_until([&] { return done; }));
  const auto t = server.targets();
  ASSERT_EQ(3u, t.size());
  EXPECT_NE(std::string::npos, t[0].find("&event=started"));
  EXPECT_EQ(0u, t[0].find("/announce?passkey=k&info_hash="));
  EXPECT_EQ(std::string::npos, t[0].find("trackerid"));
  EXPECT_NE(std::string::npos, t[1].find("&event=completed&trackerid=T-1"));
  EXPECT_NE(std::string::npos, t[2].find("&numwant=0&compact=1&no_peer_id=1&event=stopped"));
  m->reannounce();  // after stop: nothing
  h.run_for(200ms);
  EXPECT_EQ(3u, server.targets().size());
}

TEST(HttpTracker, ReannounceRespectsMinInterval) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int index) -> asio::awaitable<void> {
    co_await write_all(s, http_response(empty_body(1800, index > 0 ? 600 : -1)));
  });
  TrackerConfig config = fast_config();
  config.min_reannounce = 100ms;  // the tracker sent no `min interval` at first
  auto m = h.make({{server.url("/announce")}}, params_for(0, 1), config);
  m->start();
  ASSERT_TRUE(h.run_until([&] { return m->status()[0].working; }));
  m->reannounce();
  ASSERT_TRUE(h.run_until([&] { return server.targets().size() == 2; }));
  h.run_for(100ms);
  m->reannounce();  // now min interval 600 s applies
  h.run_for(500ms);
  EXPECT_EQ(2u, server.targets().size());
  EXPECT_GT(m->status()[0].next_announce_in_s, 500);
}

// --- stop() and destruction -----------------------------------------------------------------

TEST(TrackerStop, WithoutTrackersCompletesAsynchronously) {
  Harness h;
  auto m = h.make({}, params_for(0, 1), fast_config());
  m->start();
  bool done = false;
  m->stop([&] { done = true; });
  EXPECT_FALSE(done);
  EXPECT_TRUE(h.run_until([&] { return done; }));
}

TEST(TrackerStop, IsBoundedWhenTheHttpTrackerDies) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int index) -> asio::awaitable<void> {
    if (index == 0) {
      co_await write_all(s, http_response(compact_body(0, 1800, {}, {})));
    } else {
      asio::steady_timer t(s.get_executor(), 1h);  // a hung tracker
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  });
  TrackerConfig config = fast_config();
  config.http_timeout = 60s;
  config.stop_timeout = 500ms;
  auto m = h.make({{server.url("/announce")}}, params_for(0, 1), config);
  m->start();
  ASSERT_TRUE(h.run_until([&] { return m->status()[0].working; }));
  bool done = false;
  m->stop([&] { done = true; });
  EXPECT_TRUE(h.run_until([&] { return done; }, 10s));  // far below the 60 s HTTP timeout
  ASSERT_EQ(2u, server.targets().size());
  EXPECT_NE(std::string::npos, server.targets()[1].find("event=stopped"));
}

TEST(TrackerStop, IsBoundedWhenTheUdpTrackerDies) {
  Harness h;
  FakeUdp server(h.io, {});
  TrackerConfig config = fast_config();
  config.udp_base_timeout = 5s;
  config.udp_total_timeout = 60s;
  config.stop_timeout = 500ms;
  auto m = h.make({{server.url()}}, params_for(0, 1), config);
  m->start();
  ASSERT_TRUE(h.run_until([&] { return m->status()[0].working; }));
  server.close();
  bool done = false;
  m->stop([&] { done = true; });
  EXPECT_TRUE(h.run_until([&] { return done; }, 10s));
}

TEST(TrackerManager, DestructionCancelsWithoutCallbacks) {
  Harness h;
  FakeHttp server(h.io, [](tcp::socket& s, std::string, int) -> asio::awaitable<void> {
    asio::steady_timer t(s.get_executor(), 300ms);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await write_all(s, http_response(one_peer_body()));
  });
  auto m = h.make({{server.url("/announce")}}, params_for(0, 1), fast_config());
  m->start();
  ASSERT_TRUE(h.run_until([&] { return server.targets().size() == 1; }));
  bool done = false;
  m->stop([&] { done = true; });
  m.reset();
  h.run_for(800ms);
  EXPECT_FALSE(done);
  EXPECT_TRUE(h.batches.empty());
}

// --- malicious and scripted UDP trackers ------------------------------------------------------

TEST(UdpTracker, WrongTransactionIdsAndForeignSendersAreIgnored) {
  Harness h;
  UdpScript script;
  script.decoys = true;
  script.interval = 0;
  FakeUdp server(h.io, script);
  const auto s = announce_once(h, server.url("/announce?k=1"), fast_config());
  ASSERT_TRUE(s.working) << s.last_error;
  ASSERT_EQ(1u, h.batches.size());
  EXPECT_EQ((std::vector<std::uint16_t>{6881, 6882}), ports(h.batches[0]));
  EXPECT_GT(s.next_announce_in_s, 0);  // interval 0 clamped to 60 s
  EXPECT_LE(s.next_announce_in_s, 60);
  EXPECT_EQ(5u, s.seeders.value_or(0));
  EXPECT_EQ(1u, server.connects());
  ASSERT_EQ(1u, server.announces().size());
  EXPECT_EQ(2, server.announces()[0].event);  // started
  EXPECT_EQ("/announce?k=1", server.announces()[0].url_data);
}

TEST(UdpTracker, RetransmitsAfterTimeout) {
  Harness h;
  UdpScript script;
  script.drop_connects = 1;
  script.drop_announces = 1;
  FakeUdp server(h.io, script);
  const auto s = announce_once(h, server.url(), fast_config());
  ASSERT_TRUE(s.working) << s.last_error;
  EXPECT_EQ(2u, server.connects());
  EXPECT_EQ(2u, server.announces().size());
}

TEST(UdpTracker, ErrorPacketIsReported) {
  Harness h;
  UdpScript script;
  script.error = "info-hash not allowed";
  FakeUdp server(h.io, script);
  const auto s = announce_once(h, server.url(), fast_config());
  EXPECT_FALSE(s.working);
  EXPECT_NE(std::string::npos, s.last_error.find("info-hash not allowed")) << s.last_error;
}

TEST(UdpTracker, ConnectionIdIsReusedAndEventsAreNumbered) {
  Harness h;
  FakeUdp server(h.io, {});
  auto m = h.make({{server.url()}}, params_for(0, 1), fast_config());
  m->start();
  ASSERT_TRUE(h.run_until([&] { return m->status()[0].working; }));
  m->completed();
  ASSERT_TRUE(h.run_until([&] { return server.announces().size() == 2; }));
  bool done = false;
  m->stop([&] { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));
  ASSERT_EQ(3u, server.announces().size());
  EXPECT_EQ(1u, server.connects());           // within the 60 s lifetime of the connection id
  EXPECT_EQ(1, server.announces()[1].event);  // completed
  EXPECT_EQ(3, server.announces()[2].event);  // stopped
  EXPECT_EQ(0u, server.announces()[2].numwant);
}

}  // namespace
}  // namespace torfs
