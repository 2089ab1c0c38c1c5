// WebSeedConnection (BEP 19 fetches) against scripted HTTP servers on 127.0.0.8 and a real TLS
// server (openssl s_server -WWW, which answers every GET with a whole file and status 200).
#include "engine/net/web_seed.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "tests/engine/net/tracker_test_util.hpp"

namespace torfs {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using web_seed::FileRequest;

constexpr std::uint64_t kFileSize = 100'000;

char byte_at(std::uint64_t offset) {
  return static_cast<char>((offset * 7 + 3) & 0xff);
}

// How the scripted server answers one range request.
enum class Script { good, wrong_range, short_body, silent, hang_up };

// Accepts connections and answers range requests over keep-alive connections per `script`.
class RangeServer {
 public:
  RangeServer(asio::io_context& io, Script script)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.8"), 0)), script_(script) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }
  std::string url() const {
    return "http://127.0.0.8:" + std::to_string(acceptor_.local_endpoint().port()) + "/f.bin";
  }
  int connections = 0;
  int requests = 0;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++connections;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(tcp::socket socket) {
    std::string in;
    for (;;) {
      auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), "\r\n\r\n",
                                                     asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      const std::string head = in.substr(0, n);
      in.erase(0, n);
      ++requests;
      const auto r = head.find("Range: bytes=");
      if (r == std::string::npos || script_ == Script::silent) continue;
      std::uint64_t first = 0, last = 0;
      std::sscanf(head.c_str() + r + 13, "%lu-%lu", &first, &last);
      if (script_ == Script::wrong_range) ++first, ++last;  // right length, wrong bytes
      std::string body;
      for (std::uint64_t o = first; o <= last; ++o)
        body += byte_at(o);
      std::string out = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " +
                        std::to_string(first) + "-" + std::to_string(last) + "/" +
                        std::to_string(kFileSize) +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
      if (script_ == Script::short_body) body.resize(body.size() / 2);
      out += body;
      auto [wec, w] = co_await asio::async_write(socket, asio::buffer(out),
                                                 asio::as_tuple(asio::use_awaitable));
      // hang_up: closes the connection it answered as keep-alive (an idle-timeout close).
      if (wec || script_ == Script::short_body || script_ == Script::hang_up) co_return;
    }
  }

  tcp::acceptor acceptor_;
  Script script_;
};

FileRequest request(const std::string& url, std::uint64_t offset, std::uint64_t length,
                    std::uint64_t buffer_offset, std::uint64_t file_size = kFileSize) {
  return FileRequest{.url = url,
                     .file = FileIndex(),
                     .file_size = file_size,
                     .file_offset = offset,
                     .length = length,
                     .buffer_offset = buffer_offset};
}

struct Fetch {
  bool done = false;
  std::optional<WebSeedFailure> failure;
  std::size_t progress = 0;
  std::uint64_t filled = 0;
  bool filled_monotonic = true;
};

bool run_until(asio::io_context& io, const std::function<bool()>& pred) {
  const auto end = std::chrono::steady_clock::now() + 20s;  // a safety net, not a timing check
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    io.restart();
    io.run_for(10ms);
  }
  return true;
}

void start(WebSeedConnection& c, std::vector<FileRequest> reqs, WebSeedConnection::Buffer buf,
           Fetch& f) {
  c.fetch(
      std::move(reqs), buf,
      [&f](std::size_t n, std::uint64_t filled) {
        f.progress += n;
        f.filled_monotonic = f.filled_monotonic && filled >= f.filled;
        f.filled = filled;
      },
      [&f](std::optional<WebSeedFailure> failure) {
        f.done = true;
        f.failure = std::move(failure);
      });
}

// start(), then runs `io` until the fetch ends; false if run_until's safety net gave up.
bool fetch(asio::io_context& io, WebSeedConnection& c, std::vector<FileRequest> reqs,
           WebSeedConnection::Buffer buf, Fetch& f) {
  start(c, std::move(reqs), buf, f);
  return run_until(io, [&f] { return f.done; });
}

// A server answering per `script`, a connection to it and a buffer of `length` bytes, with one
// fetch of [offset, offset + length) started into `f`. Members are declared in the order the
// fetch needs them destroyed in reverse.
struct OneFetch {
  OneFetch(Script script, std::uint64_t offset, std::uint64_t length, WebSeedOptions options = {})
      : server(io, script),
        conn(std::make_shared<WebSeedConnection>(io, options)),
        buf(new char[length]) {
    start(*conn, {request(server.url(), offset, length, 0)}, buf, f);
  }
  bool run_to_end() {
    return run_until(io, [this] { return f.done; });
  }

  asio::io_context io;
  RangeServer server;
  std::shared_ptr<WebSeedConnection> conn;
  WebSeedConnection::Buffer buf;
  Fetch f;
};

TEST(WebSeedConnection, FetchesRangesAndPadOverOneKeepAliveConnection) {
  asio::io_context io;
  RangeServer server(io, Script::good);
  auto conn = std::make_shared<WebSeedConnection>(io, WebSeedOptions{});
  WebSeedConnection::Buffer buf(new char[30'000]);
  FileRequest pad = request("", 0, 5'000, 10'000);
  pad.pad = true;
  std::memset(buf.get() + 10'000, 'x', 5'000);
  Fetch first;
  ASSERT_TRUE(fetch(
      io, *conn,
      {request(server.url(), 500, 10'000, 0), pad, request(server.url(), 90'000, 10'000, 15'000)},
      buf, first));
  ASSERT_FALSE(first.failure) << first.failure->error.message;
  EXPECT_EQ(20'000u, first.progress);  // body bytes: the pad is not downloaded
  EXPECT_EQ(25'000u, first.filled);
  EXPECT_TRUE(first.filled_monotonic);
  for (std::uint64_t i = 0; i < 10'000; ++i)
    ASSERT_EQ(byte_at(500 + i), buf[i]) << i;
  for (std::uint64_t i = 10'000; i < 15'000; ++i)
    ASSERT_EQ(0, buf[i]) << i;
  for (std::uint64_t i = 0; i < 10'000; ++i)
    ASSERT_EQ(byte_at(90'000 + i), buf[15'000 + i]) << i;
  Fetch second;
  ASSERT_TRUE(fetch(io, *conn, {request(server.url(), 0, 1, 0)}, buf, second));
  EXPECT_FALSE(second.failure);
  EXPECT_EQ(byte_at(0), buf[0]);
  EXPECT_EQ(1, server.connections);
  EXPECT_EQ(3, server.requests);
}

TEST(WebSeedConnection, ReconnectsWhenTheServerClosedAnIdleKeepAliveConnection) {
  asio::io_context io;
  RangeServer server(io, Script::hang_up);
  auto conn = std::make_shared<WebSeedConnection>(io, WebSeedOptions{});
  WebSeedConnection::Buffer buf(new char[100]);
  for (int i = 0; i < 2; ++i) {
    Fetch f;
    ASSERT_TRUE(fetch(io, *conn, {request(server.url(), 1000 * i, 100, 0)}, buf, f));
    ASSERT_FALSE(f.failure) << f.failure->error.message;
    EXPECT_EQ(byte_at(1000 * i + 99), buf[99]);
    io.restart();
    io.run_for(50ms);  // lets the server's close arrive before the next fetch
  }
  EXPECT_EQ(2, server.connections);
}

TEST(WebSeedConnection, RejectsAContentRangeOtherThanAskedFor) {
  OneFetch one(Script::wrong_range, 100, 1000);
  ASSERT_TRUE(one.run_to_end());
  ASSERT_TRUE(one.f.failure);
  EXPECT_NE(std::string::npos, one.f.failure->error.message.find("does not match"))
      << one.f.failure->error.message;
  EXPECT_NE(std::string::npos, one.f.failure->error.message.find(one.server.url()));
}

TEST(WebSeedConnection, ShortBodyIsAnError) {
  OneFetch one(Script::short_body, 0, 4000);
  ASSERT_TRUE(one.run_to_end());
  ASSERT_TRUE(one.f.failure);
  EXPECT_EQ(0u, one.f.failure->status);
}

TEST(WebSeedConnection, SilentServerTimesOut) {
  WebSeedOptions options;
  options.request_timeout = 300ms;
  OneFetch one(Script::silent, 0, 10, options);
  ASSERT_TRUE(one.run_to_end());
  ASSERT_TRUE(one.f.failure);
  EXPECT_EQ(std::make_error_code(std::errc::timed_out), one.f.failure->error.code)
      << one.f.failure->error.message;
}

TEST(WebSeedConnection, CloseDuringAFetchDropsItsCallback) {
  OneFetch one(Script::silent, 0, 10);
  ASSERT_TRUE(run_until(one.io, [&] { return one.server.requests == 1; }));
  one.conn->close();
  one.conn.reset();  // the fetch keeps what it needs alive until it ends
  ASSERT_TRUE(run_until(one.io, [&] { return one.io.poll() == 0; }));
  EXPECT_FALSE(one.f.done);
}

// https: the whole file with status 200 is accepted once the self-signed certificate is
// trusted; without it the TLS handshake fails.
TEST(WebSeedConnection, HttpsWholeFileFromOpensslServer) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  const auto dir =
      std::filesystem::temp_directory_path() / ("torfs-webseed-tls-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.8 -addext subjectAltName=IP:127.0.0.8 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(0, std::system(make_cert.c_str()));
  std::string content(5000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = byte_at(i);
  std::ofstream(dir / "f.bin", std::ios::binary) << content;
  const std::uint16_t port = tracker_test::free_port("127.0.0.8");
  tracker_test::ChildProcess server(
      {"openssl", "s_server", "-accept", "127.0.0.8:" + std::to_string(port), "-cert", cert, "-key",
       key, "-WWW", "-quiet"},
      dir.string());
  ASSERT_TRUE(tracker_test::wait_for_tcp("127.0.0.8", port, 10s));
  const std::string url = "https://127.0.0.8:" + std::to_string(port) + "/f.bin";

  asio::io_context io;
  WebSeedConnection::Buffer buf(new char[content.size()]);
  auto untrusting = std::make_shared<WebSeedConnection>(io, WebSeedOptions{});
  Fetch refused;
  ASSERT_TRUE(
      fetch(io, *untrusting, {request(url, 0, content.size(), 0, content.size())}, buf, refused));
  ASSERT_TRUE(refused.failure);
  EXPECT_NE(std::string::npos, refused.failure->error.message.find("TLS"))
      << refused.failure->error.message;

  WebSeedOptions options;
  options.ca_file = cert;
  auto trusting = std::make_shared<WebSeedConnection>(io, options);
  Fetch ok;
  ASSERT_TRUE(fetch(io, *trusting, {request(url, 0, content.size(), 0, content.size())}, buf, ok));
  ASSERT_FALSE(ok.failure) << ok.failure->error.message;
  EXPECT_EQ(content, std::string(buf.get(), content.size()));

  // A part of the file answered with the whole file (200) is refused.
  Fetch partial;
  ASSERT_TRUE(fetch(io, *trusting, {request(url, 0, 100, 0, content.size())}, buf, partial));
  ASSERT_TRUE(partial.failure);
  EXPECT_EQ(200u, partial.failure->status);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace torfs
