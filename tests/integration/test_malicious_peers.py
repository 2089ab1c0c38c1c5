"""Hostile peers against a real mount: one scenario per test (tests/integration/evil_peer.py).

Every test has an honest libtorrent seeder (rate-limited, so the download lasts long enough for
the evil peer to matter), a scripted evil peer on 127.0.0.4, and a real reader that reads the
whole file through the FUSE mount and compares it with the source. torfs must stay up, drop or
ban the evil peer, and never serve a wrong byte."""
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evil_peer as ev  # noqa: E402
from harness import (Env, free_port, lt_info_hash, main, make_files, mktorrent,  # noqa: E402
                     require_fuse, sha256_file, tear_down_env, wait_until)

PIECE_LOG2 = 16
PIECE = 1 << PIECE_LOG2
SIZE = 65 * PIECE - 12345  # 65 pieces: the last bitfield byte has 7 spare bits
NUM_PIECES = (SIZE + PIECE - 1) // PIECE
EVIL_IP = "127.0.0.4"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class MaliciousPeerTest(unittest.TestCase):
    def setUp(self):
        require_fuse(self)
        self.env = Env("evil")
        self.evils = []
        env = self.env
        src = env.path("src")
        os.makedirs(src, exist_ok=True)
        make_files(src, {"f.bin": SIZE})
        self.src_file = os.path.join(src, "f.bin")
        self.torrent = mktorrent(self.src_file, env.path("t.torrent"), piece_log2=PIECE_LOG2)
        self.info_hash = lt_info_hash(self.torrent)
        self.seeder = env.start_lt_seeder(self.torrent, src, ip="127.0.0.2",
                                          upload_limit=1_000_000, no_trackers=True)
        self.listen = free_port("127.0.0.1")

    def tearDown(self):
        for evil in self.evils:
            evil.close()
        tear_down_env(self, self.env, dead_mounts=True)

    def make_evil(self, scenario, **kw):
        evil = ev.EvilPeer(EVIL_IP, self.info_hash, NUM_PIECES, scenario, piece_length=PIECE,
                           total_size=SIZE, **kw)
        self.evils.append(evil)
        return evil

    def mount(self, *peers):
        env = self.env
        self.mnt = env.path("mnt")
        args = ["--data-dir", env.path("data"), "--state-db", env.path("state.db"),
                "--no-trackers", "--listen", f"127.0.0.1:{self.listen}", "--read-timeout", "120",
                "-v", "--peer", f"127.0.0.2:{self.seeder.port}"]
        for p in peers:
            args += ["--peer", p]
        self.proc = env.mount(self.torrent, self.mnt, *args, foreground=True, name="torfs")
        return self.proc

    def read_and_compare(self):
        """Reads the whole file through the mount; every byte must equal the source."""
        self.assertEqual(sha256_file(self.src_file), sha256_file(os.path.join(self.mnt, "f.bin")))
        self.assertIsNone(self.proc.poll(), "torfs exited")

    def log(self):
        return self.env.log("torfs")

    def outgoing_scenario(self, scenario, reason_pattern):
        """torfs connects to the evil peer (--peer); it must drop it and finish the read."""
        evil = self.make_evil(scenario)
        self.mount(evil.addr)
        self.read_and_compare()
        self.assertGreaterEqual(evil.connections, 1, "torfs never connected to the evil peer")
        wait_until(lambda: evil.dropped(), 30, what="torfs to drop the evil peer")
        wait_until(lambda: re.search(reason_pattern, self.log()), 10,
                   what=f"a log line matching {reason_pattern!r}")

    # -- one scenario per test ----------------------------------------------------------------

    def test_length_prefix_ffffffff(self):
        self.outgoing_scenario(ev.huge_length_prefix, r"protocol violation: message length")

    def test_bitfield_wrong_length(self):
        self.outgoing_scenario(ev.bitfield_wrong_length, r"protocol violation: bitfield")

    def test_bitfield_spare_bits_set(self):
        self.outgoing_scenario(ev.bitfield_spare_bits, r"protocol violation: bitfield")

    def test_have_out_of_range(self):
        self.outgoing_scenario(ev.have_out_of_range, r"protocol violation: piece index out of")

    def test_request_out_of_range(self):
        # These peers connect in to torfs's listen port once torfs has something to serve.
        past_last = self.make_evil(ev.request_out_of_range)
        past_end = self.make_evil(ev.request_past_piece_end)
        self.mount()
        data = os.path.join(self.env.tmp, "data", "f.bin")
        wait_until(lambda: os.path.exists(data) and os.stat(data).st_blocks > 0, 60,
                   what="torfs to have some data")
        first = past_last.connect_to("127.0.0.1", self.listen)
        second = past_end.connect_to("127.0.0.1", self.listen)
        self.read_and_compare()
        wait_until(lambda: first.closed_by_torfs and second.closed_by_torfs, 30,
                   what="torfs to close both out-of-range requesters")
        self.assertTrue(first.handshake_ok and second.handshake_ok)
        self.assertRegex(self.log(), r"protocol violation: piece index out of range")
        self.assertRegex(self.log(), r"protocol violation: block outside its piece")

    def test_unsolicited_pieces(self):
        evil = self.make_evil(ev.unsolicited_pieces)
        self.mount(evil.addr)
        # A flood of blocks nobody asked for: the peer is dropped (a strike), and after the
        # pinned --peer reconnects and floods again, banned.
        wait_until(lambda: evil.dropped(), 60, what="torfs to drop the flooding peer")
        wait_until(lambda: re.search(r"127\.0\.0\.4:\d+ sent \d+ bytes of blocks we did not "
                                     r"request", self.log()), 10, what="the flood log line")
        wait_until(lambda: f"banning {EVIL_IP}" in self.log(), 60,
                   what="the second flood to get the peer banned")
        self.assertRegex(self.log(), r"protocol violation: too many blocks we did not request")
        # Downloading from the honest seeder goes on: the whole file reads back correctly.
        self.read_and_compare()
        log = self.log()
        # Blocks nobody asked for never reach a piece: no piece fails, and above all the honest
        # seeder (whose blocks would share pieces with the injected ones) is never banned.
        self.assertNotIn("failed its hash check", log)
        self.assertNotIn("banning 127.0.0.2", log)
        self.assertNotIn("127.0.0.2", "".join(re.findall(r".*did not request.*", log)))

    def test_late_blocks_after_cancel_are_not_a_flood(self):
        # An honest slow seeder that ignores cancels: in endgame torfs asks the fast seeder for
        # the blocks still queued at the slow one and cancels them there; the slow one sends
        # them anyway. Those late blocks are forgiven: it is never dropped as a flooder.
        evil = self.make_evil(ev.slow_seed_ignoring_cancels, data_path=self.src_file)
        self.mount(evil.addr)
        self.read_and_compare()
        wait_until(lambda: re.search(r"download complete", self.log()), 30,
                   what="the download to complete")
        log = self.log()
        self.assertGreaterEqual(evil.connections, 1)
        cancels = sum(r.cancels_received for r in evil.records)
        # More late blocks than the 256 KiB slack alone would forgive (16 blocks): only the
        # per-cancel credits keep this peer.
        self.assertGreater(cancels, 16, "too few endgame cancels: the scenario did not happen")
        self.assertNotIn("did not request", log)
        self.assertNotIn(f"banning {EVIL_IP}", log)

    def test_corrupt_blocks_banned_reader_sees_only_good_bytes(self):
        evil = self.make_evil(ev.corrupt_blocks)
        self.mount(evil.addr)
        self.read_and_compare()
        log = self.log()
        self.assertIn("failed its hash check", log)
        self.assertIn(f"banning {EVIL_IP}", log)
        self.assertNotIn("banning 127.0.0.2", log)
        wait_until(lambda: all(r.closed_by_torfs for r in evil.records), 10,
                   what="every evil connection to be closed")
        # Banned for good: never connected to again, and an incoming attempt is refused.
        after_ban = log.split(f"banning {EVIL_IP}", 1)[1]
        self.assertNotIn(f"connecting to {EVIL_IP}", after_ban)
        again = evil.connect_to("127.0.0.1", self.listen)
        wait_until(lambda: again.closed_by_torfs, 15, what="torfs to refuse the banned peer")
        self.assertEqual(again.requests_received, 0)

    def test_handshake_trickle_incoming(self):
        evil = self.make_evil(ev.idle_after_handshake, handshake=ev.trickle_handshake)
        self.mount()
        rec = evil.connect_to("127.0.0.1", self.listen)
        self.read_and_compare()
        wait_until(lambda: rec.closed_by_torfs, 40, what="torfs to time the trickler out")
        self.assertLess(rec.bytes_sent, 68, "torfs waited for the whole trickled handshake")
        # The handshake timeout is 10 s (+ the byte-per-second send that notices the close).
        self.assertLess(rec.closed_at - rec.opened_at, 30)

    def test_handshake_trickle_outgoing(self):
        evil = self.make_evil(ev.idle_after_handshake, handshake=ev.trickle_handshake)
        self.mount(evil.addr)
        self.read_and_compare()
        wait_until(lambda: evil.dropped(), 40, what="torfs to time the trickler out")
        self.assertLess(evil.dropped()[0].bytes_sent, 68)
        wait_until(lambda: "handshake timed out" in self.log(), 10, what="the timeout log line")

    def test_500_connections_at_once(self):
        evil = self.make_evil(ev.idle_after_handshake)
        self.mount()
        base = rss_kib(self.proc.pid)
        # 300 connect and send nothing (more than the 256 half-open handshakes torfs keeps);
        # 200 complete a valid handshake and then idle (far more than the 50-peer limit).
        raw, records = [], []
        try:
            for _ in range(300):
                s = socket.socket()
                raw.append(s)
                s.bind((EVIL_IP, 0))
                s.connect(("127.0.0.1", self.listen))
            for _ in range(200):
                records.append(evil.connect_to("127.0.0.1", self.listen))

            def closed(sock):
                sock.setblocking(False)
                try:
                    return sock.recv(1) == b""
                except BlockingIOError:
                    return False
                except OSError:
                    return True
            # Beyond the half-open limit, silent connections are closed at once, well before
            # the 10 s handshake timeout that ends the others.
            wait_until(lambda: sum(closed(s) for s in raw) >= 300 - 256, 8,
                       what="torfs to close silent connections beyond its half-open limit")
            peak = [rss_kib(self.proc.pid)]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_kib(self.proc.pid))
                    time.sleep(0.05)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            self.read_and_compare()
            stop.set()
            sampler.join()
            # The peer limit holds: most valid handshakes are refused.
            wait_until(lambda: sum(r.closed_by_torfs for r in records) >= 150, 30,
                       what="torfs to refuse handshakes beyond its peer limit")
            # Memory stays bounded: 500 sockets must not cost tens of MB.
            self.assertLess(peak[0] - base, 64 * 1024, f"RSS grew from {base} to {peak[0]} KiB")
            # Every silent connection ends, at the latest by the handshake timeout.
            wait_until(lambda: all(closed(s) for s in raw), 30,
                       what="silent connections to be timed out")
        finally:
            for s in raw:
                s.close()

if __name__ == "__main__":
    main()
