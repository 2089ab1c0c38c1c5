// Interop of DhtNode with libtorrent 2.0.8's DHT on loopback. libtorrent (on 127.0.0.2) runs in
// /usr/bin/python3 with its loopback/dark-internet/node-id restrictions relaxed, bootstraps
// from our node A (127.0.0.3) and seeds a torrent, so it announces to A. Then:
//  - our node B (127.0.0.4), bootstrapped only through libtorrent, finds libtorrent's peer
//    address with get_peers (B's own store is empty: the value travels over the DHT);
//  - A announces another info-hash, whose only other node is libtorrent; B finds that peer,
//    which only libtorrent's peer store can have given it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "engine/net/dht_node.hpp"

namespace torfs {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr const char* kLibtorrentScript = R"PY(
import os, select, sys, time
import libtorrent as lt
ip, port, boot, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = lt.session({
    'listen_interfaces': '%s:%d' % (ip, port), 'enable_dht': True, 'dht_bootstrap_nodes': boot,
    'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False,
    'dht_ignore_dark_internet': False, 'dht_prefer_verified_node_ids': False,
    'dht_enforce_node_id': False, 'dht_announce_interval': 5,
    'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'out_enc_policy': 2, 'in_enc_policy': 2, 'allow_multiple_connections_per_ip': True,
    'alert_mask': lt.alert.category_t.dht_notification | lt.alert.category_t.status_notification})
data = os.path.join(workdir, 'payload.bin')
with open(data, 'wb') as f:
    f.write(os.urandom(100000))
fs = lt.file_storage()
lt.add_files(fs, data)
ct = lt.create_torrent(fs)
lt.set_piece_hashes(ct, workdir)
ti = lt.torrent_info(ct.generate())
h = s.add_torrent({'ti': ti, 'save_path': workdir})
print('READY', s.listen_port(), str(ti.info_hash()), flush=True)
while True:
    r, _, _ = select.select([sys.stdin], [], [], 2.0)
    if r and not sys.stdin.readline():
        break
    h.force_dht_announce()
    for a in s.pop_alerts():
        if isinstance(a, lt.dht_announce_alert):
            print('ANNOUNCE_FROM', a.ip, a.port, flush=True)
)PY";

// /usr/bin/python3 running kLibtorrentScript in its own process group, killed with the test.
class LibtorrentNode {
 public:
  LibtorrentNode(const std::string& ip, std::uint16_t port, const std::string& boot,
                 const std::filesystem::path& dir) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      const std::string p = std::to_string(port), d = dir.string();
      ::execl("/usr/bin/python3", "python3", "-u", "-c", kLibtorrentScript, ip.c_str(), p.c_str(),
              boot.c_str(), d.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    ::fcntl(stdout_, F_SETFL, O_NONBLOCK);
  }
  ~LibtorrentNode() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }
  LibtorrentNode(const LibtorrentNode&) = delete;
  LibtorrentNode& operator=(const LibtorrentNode&) = delete;

  // Complete lines printed so far (non-blocking).
  std::vector<std::string> lines() {
    char buf[4096];
    ssize_t n;
    while (stdout_ >= 0 && (n = ::read(stdout_, buf, sizeof buf)) > 0) {
      partial_.append(buf, static_cast<std::size_t>(n));
    }
    std::vector<std::string> out;
    for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      out.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  std::string partial_;
};

std::uint16_t free_port(const std::string& ip) {
  asio::io_context io;
  asio::ip::tcp::acceptor tcp(io, {asio::ip::make_address(ip), 0});
  const std::uint16_t port = tcp.local_endpoint().port();
  asio::ip::udp::socket udp(io, {asio::ip::make_address(ip), port});  // throws if UDP is taken
  return port;
}

template <class Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < end) {
    io.run_for(50ms);
    if (io.stopped()) io.restart();
  }
  return pred();
}

struct Found {
  std::set<Endpoint> peers;
  bool done = false;
};

std::shared_ptr<Found> find_peers(DhtNode& node, const Sha1Hash& h, std::uint16_t port = 0) {
  auto f = std::make_shared<Found>();
  node.get_peers(
      h, port, [f](std::vector<Endpoint> p) { f->peers.insert(p.begin(), p.end()); },
      [f] { f->done = true; });
  return f;
}

DhtConfig config_on(const std::string& ip, std::vector<std::string> bootstrap) {
  DhtConfig c;
  c.listen = ip + ":0";
  c.bootstrap = std::move(bootstrap);
  c.query_timeout = 1000ms;
  return c;
}

TEST(DhtInterop, LibtorrentFindsUsAndWeFindLibtorrent) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  const auto dir =
      std::filesystem::temp_directory_path() / ("torfs-dht-interop-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};

  asio::io_context io;
  const std::uint16_t lt_port = free_port("127.0.0.2");
  const std::string lt_node = "127.0.0.2:" + std::to_string(lt_port);
  DhtNode a(io, config_on("127.0.0.3", {lt_node}));
  ASSERT_TRUE(a.start().ok());
  LibtorrentNode lt("127.0.0.2", lt_port, "127.0.0.3:" + std::to_string(a.port()), dir);

  std::optional<Sha1Hash> info_hash;
  std::vector<std::string> output;
  ASSERT_TRUE(run_until(
      io,
      [&] {
        for (auto& line : lt.lines()) {
          output.push_back(line);
          if (line.rfind("READY ", 0) == 0)
            info_hash = sha1_from_hex(line.substr(line.rfind(' ') + 1));
        }
        return info_hash.has_value();
      },
      30s))
      << "libtorrent did not start: " << ::testing::PrintToString(output);

  // libtorrent bootstraps from A, then announces its torrent to A.
  ASSERT_TRUE(run_until(
      io, [&] { return a.stats().announces_stored >= 1; }, 60s))
      << "libtorrent never announced to our node; table size " << a.routing_table_size()
      << ", queries received " << a.stats().queries_received;
  EXPECT_GE(a.routing_table_size(), 1u);

  // A announces a second info-hash; libtorrent is the only other node, so only it stores it.
  const Sha1Hash second = sha1("torfs dht interop second swarm");
  auto announced = find_peers(a, second, 7777);
  ASSERT_TRUE(run_until(
      io, [&] { return announced->done; }, 30s));
  run_until(
      io, [] { return false; }, 1s);  // let announce_peer reach libtorrent

  DhtNode b(io, config_on("127.0.0.4", {lt_node}));
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(run_until(
      io, [&] { return b.routing_table_size() >= 1; }, 30s));
  const Endpoint seeder = *Endpoint::parse(lt_node);
  auto found = find_peers(b, *info_hash);
  ASSERT_TRUE(run_until(
      io, [&] { return found->done && found->peers.contains(seeder); }, 60s))
      << "found " << found->peers.size() << " peers, done " << found->done;
  EXPECT_EQ(b.stats().announces_stored, 0u);

  const Endpoint ours = *Endpoint::parse("127.0.0.3:7777");
  std::shared_ptr<Found> from_lt;
  ASSERT_TRUE(run_until(
      io,
      [&] {
        if (from_lt && from_lt->peers.contains(ours)) return true;
        if (!from_lt || from_lt->done) from_lt = find_peers(b, second);
        return false;
      },
      30s))
      << "libtorrent did not serve the peer our node announced";
}

}  // namespace
}  // namespace torfs
