"""IPv6 (BEP 7) on the loopback ::1, between torfs and libtorrent: torfs downloads from a
libtorrent seeder it connects to over IPv6; torfs seeds to a libtorrent leecher that connects to
torfs's IPv6 listen address; torfs finds the seeder through an HTTP tracker on [::1] that
answers with compact `peers6` only; torfs finds a libtorrent seeder through the IPv6 DHT
(BEP 32) from a magnet with no tracker. Skipped when lo has no IPv6 address."""
import os
import re
import socket
import sys
import http.server
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SYSTEM_PYTHON, TORFS, Env, lt_info_hash, main, make_files,  # noqa: E402
                     mktorrent, run_torfs, sha256_file, wait_until)

FILES = {"six/a.bin": 2_000_003, "six/b.bin": 70_000}

# A libtorrent peer on [::1] (tests/integration/lt_peer.py binds outgoing connections to its
# --ip, which libtorrent does not accept in brackets). argv: torrent save mode port_file [peer];
# mode "seed-dht" seeds with libtorrent's DHT on (its IPv6 node on [::1], same port as the
# listener), with the loopback-friendly settings of lt_peer.py --dht.
LT_V6 = r"""
import libtorrent as lt, os, signal, sys, time
torrent, save, mode, port_file = sys.argv[1:5]
dht = mode.endswith("-dht")
mode = mode.split("-")[0]
settings = {"listen_interfaces": "[::1]:0", "enable_outgoing_utp": False,
            "enable_incoming_utp": False, "out_enc_policy": 2, "in_enc_policy": 2,
            "enable_dht": dht, "enable_lsd": False, "enable_upnp": False,
            "enable_natpmp": False, "allow_multiple_connections_per_ip": True}
if dht:
    settings.update({"dht_bootstrap_nodes": "", "dht_restrict_routing_ips": False,
                     "dht_restrict_search_ips": False, "dht_ignore_dark_internet": False,
                     "dht_prefer_verified_node_ids": False, "dht_enforce_node_id": False,
                     "dht_announce_interval": 5})
ses = lt.session(settings)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save
if mode == "seed":
    p.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(p)
if len(sys.argv) > 5:
    host, port = sys.argv[5].rsplit(":", 1)
    h.connect_peer((host.strip("[]"), int(port)))
with open(port_file + ".tmp", "w") as f:
    f.write(str(ses.listen_port()))
os.rename(port_file + ".tmp", port_file)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    ses.pop_alerts()
    if mode == "leech" and h.status().is_seeding:
        open(port_file + ".done", "w").close()
    time.sleep(0.1)
"""


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Tracker6:
    """An HTTP tracker on [::1] that answers every announce with `peers6` = the given peers."""

    def __init__(self, peers):
        compact = b"".join(socket.inet_pton(socket.AF_INET6, ip) + port.to_bytes(2, "big")
                           for ip, port in peers)
        body = (b"d8:intervali1800e5:peers0:6:peers6" + str(len(compact)).encode() + b":" +
                compact + b"e")
        self.announces = []
        tracker = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                tracker.announces.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6

        self.httpd = Server(("::1", 0), Handler)
        self.url = f"http://[::1]:{self.httpd.server_address[1]}/announce"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Ipv6Test(unittest.TestCase):
    def setUp(self):
        if not has_ipv6_loopback():
            self.skipTest("no IPv6 on the loopback interface")
        self.env = Env("ipv6")
        self.src = make_files(self.env.path("src"), FILES, seed=11)

    def tearDown(self):
        if sys.exc_info()[0] is not None:
            self.env.dump_logs()
        self.env.cleanup()

    def lt_peer(self, torrent, save, mode, name, peer=None):
        port_file = self.env.path(f"{name}.port")
        args = [SYSTEM_PYTHON, "-c", LT_V6, torrent, save, mode, port_file]
        if peer:
            args.append(peer)
        self.env.spawn(args, name=name)
        wait_until(lambda: os.path.exists(port_file), 30, what=f"{name} to listen")
        with open(port_file) as f:
            return int(f.read()), port_file

    def common(self, tag):
        return ["--state-db", self.env.path(tag, "state.db"), "--no-dht", "--no-lsd"]

    def assert_same(self, dest):
        for rel in FILES:
            self.assertEqual(sha256_file(os.path.join(self.src, rel)),
                             sha256_file(os.path.join(dest, rel)), rel)

    def test_download_from_libtorrent_over_ipv6(self):
        torrent = mktorrent(os.path.join(self.src, "six"), self.env.path("six.torrent"), 16)
        port, _ = self.lt_peer(torrent, self.src, "seed", "lt-seed")
        dest = self.env.path("dl", "dest")
        run_torfs("download", torrent, "-d", dest, "--listen", "[::1]:0", "--no-trackers",
                  "--peer", f"[::1]:{port}", *self.common("dl"), timeout=120)
        self.assert_same(dest)

    def test_seed_to_libtorrent_connecting_over_ipv6(self):
        torrent = mktorrent(os.path.join(self.src, "six"), self.env.path("six.torrent"), 16)
        self.env.spawn([TORFS, "download", torrent, "-d", self.src, "--seed", "--listen",
                        "[::1]:0", "--no-trackers", "-v", *self.common("seed")],
                       name="torfs-seed")
        port = wait_until(lambda: re.search(r"listening on port (\d+)",
                                            self.env.log("torfs-seed")), 30,
                          what="torfs to listen").group(1)
        save = self.env.path("leech")
        _, port_file = self.lt_peer(torrent, save, "leech", "lt-leech", peer=f"[::1]:{port}")
        wait_until(lambda: os.path.exists(port_file + ".done"), 120,
                   what="libtorrent to complete from torfs")
        self.assert_same(save)
        self.assertRegex(self.env.log("torfs-seed"), r"::1")  # the leecher's address

    def test_http_tracker_on_ipv6_with_peers6(self):
        torrent_path = self.env.path("six-tr.torrent")
        port, _ = self.lt_peer(mktorrent(os.path.join(self.src, "six"),
                                         self.env.path("six-lt.torrent"), 16),
                               self.src, "seed", "lt-seed")
        tracker = Tracker6([("::1", port)])
        try:
            torrent = mktorrent(os.path.join(self.src, "six"), torrent_path, 16,
                                trackers=[tracker.url])
            # The announce URL does not change the info-hash: the seeder serves this torrent.
            dest = self.env.path("dl", "dest")
            run_torfs("download", torrent, "-d", dest, "--listen", "[::1]:0",
                      *self.common("dl"), timeout=120)
            self.assert_same(dest)
            self.assertTrue(tracker.announces, "torfs never announced to the IPv6 tracker")
            self.assertIn("info_hash=", tracker.announces[0])
        finally:
            tracker.close()

    def test_magnet_found_through_ipv6_dht(self):
        """No tracker, no peer address: torfs (listening on [::1] only, so its DHT is an IPv6
        node) bootstraps through libtorrent's IPv6 DHT node and finds the seeder there."""
        torrent = mktorrent(os.path.join(self.src, "six"), self.env.path("six.torrent"), 16)
        port, _ = self.lt_peer(torrent, self.src, "seed-dht", "lt-dht6")
        dest = self.env.path("dl", "dest")
        proc = run_torfs("download", f"magnet:?xt=urn:btih:{lt_info_hash(torrent)}", "-d", dest,
                         "--state-db", self.env.path("dl", "state.db"), "--listen", "[::1]:0",
                         "--dht-bootstrap", f"[::1]:{port}", "--metadata-timeout", "90",
                         "--no-trackers", "--no-lsd", "-v", check=False, timeout=240)
        self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
        self.assert_same(dest)


if __name__ == "__main__":
    main()
