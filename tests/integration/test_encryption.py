"""Protocol encryption (MSE/PE) against real peers on loopback: torfs downloads from libtorrent
seeders that force RC4 (outgoing MSE, found by the plain-first retry and by --encryption
prefer), falls back to plain for a peer without MSE, fetches a magnet's metadata over RC4, serves libtorrent and aria2c leechers that
require RC4 (incoming MSE), and under --encryption require refuses plain-only peers."""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LT_PEER, SYSTEM_PYTHON, TORFS, Env, LtPeer, assert_same_tree,  # noqa: E402
                     free_port, lt_info_hash, main, make_files, mktorrent, run_torfs,
                     tear_down_env, wait_until)

SPEC = {"e/a.bin": 1_500_007, "e/sub/b.bin": 700_000}
PIECE_LOG2 = 16


class EncryptionTest(unittest.TestCase):
    def setUp(self):
        self.env = Env("encryption")
        self.src = self.env.path("src")
        make_files(self.src, SPEC, seed=11)
        self.torrent = mktorrent(os.path.join(self.src, "e"), self.env.path("e.torrent"),
                                 piece_log2=PIECE_LOG2)
        self.files = {k: v for k, v in SPEC.items() if v}

    def tearDown(self):
        tear_down_env(self, self.env)

    # -- counterparts -------------------------------------------------------------------------

    def lt_peer(self, ip, mode, encryption, level="both", peers=(), save=None):
        name = f"lt-{mode}-{ip}"
        status = self.env.path(f"{name}.status.json")
        args = [SYSTEM_PYTHON, LT_PEER, "--torrent", self.torrent,
                "--save", save or (self.src if mode == "seed" else self.env.path(name)),
                "--ip", ip, "--mode", mode, "--status", status, "--no-trackers",
                "--encryption", encryption, "--enc-level", level]
        for p in peers:
            args += ["--peer", p]
        peer = LtPeer(self.env.spawn(args, name=name), status)
        peer.port  # waits until it listens
        if mode == "seed":
            peer.wait_seeding(60)  # until then libtorrent hangs up on every peer
        return peer

    def download(self, peer_addr, *extra, name="dl"):
        dest = self.env.path(name)
        proc = run_torfs("download", self.torrent, "-d", dest, "--no-trackers", "--peer",
                         peer_addr, "--listen", "127.0.0.1:0", "--state-db",
                         self.env.path(f"{name}.db"), "-v", *extra, timeout=180)
        assert_same_tree(self, self.src, dest, self.files)
        return proc

    def start_seed(self, *extra, name="torfs-seed"):
        listen = free_port("127.0.0.1")
        proc = self.env.spawn([TORFS, "seed", self.torrent, "-d", self.src, "--listen",
                               f"127.0.0.1:{listen}", "--state-db", self.env.path(f"{name}.db"),
                               "-v", *extra], name=name)
        wait_until(lambda: "until interrupted" in self.env.log(name) or proc.poll() is not None,
                   120, what="torfs seed to start")
        self.assertIsNone(proc.poll(), self.env.log(name))
        return proc, f"127.0.0.1:{listen}"

    def stop_seed(self, proc, name="torfs-seed"):
        os.killpg(proc.pid, signal.SIGINT)
        self.assertEqual(proc.wait(30), 0, self.env.log(name))

    # -- outgoing -----------------------------------------------------------------------------

    def test_download_from_forced_rc4_seeder_by_default(self):
        # The default policy connects plain; the seeder hangs up and the retry speaks MSE.
        seeder = self.lt_peer("127.0.0.2", "seed", "forced", "rc4")
        proc = self.download(f"127.0.0.2:{seeder.port}")
        self.assertIn("retrying with MSE", proc.stderr)
        self.assertIn("protocol encryption (MSE/PE), RC4", proc.stderr)

    def test_download_prefer_rc4_from_forced_seeder(self):
        seeder = self.lt_peer("127.0.0.3", "seed", "forced", "rc4")
        proc = self.download(f"127.0.0.3:{seeder.port}", "--encryption", "prefer")
        self.assertIn("protocol encryption (MSE/PE), RC4", proc.stderr)

    def test_prefer_falls_back_to_plain_for_a_peer_without_mse(self):
        seeder = self.lt_peer("127.0.0.4", "seed", "disabled")
        proc = self.download(f"127.0.0.4:{seeder.port}", "--encryption", "prefer")
        self.assertIn("retrying plain", proc.stderr)

    def test_require_does_not_talk_plain_to_a_seeder(self):
        seeder = self.lt_peer("127.0.0.5", "seed", "disabled")
        seeder_plain_ok = self.lt_peer("127.0.0.6", "seed", "forced", "rc4")
        # The plain-only seeder never gets a plain handshake: everything comes over RC4.
        self.download(f"127.0.0.6:{seeder_plain_ok.port}", "--encryption", "require",
                      "--peer", f"127.0.0.5:{seeder.port}")
        self.assertEqual((seeder.status() or {}).get("total_payload_upload"), 0)

    def test_magnet_metadata_and_data_over_rc4_only(self):
        # The metadata fetch follows the policy too: under require, RC4 from the first byte.
        seeder = self.lt_peer("127.0.0.12", "seed", "forced", "rc4")
        dest = self.env.path("mag")
        magnet = (f"magnet:?xt=urn:btih:{lt_info_hash(self.torrent)}"
                  f"&x.pe=127.0.0.12:{seeder.port}")
        proc = run_torfs("download", magnet, "-d", dest, "--no-trackers", "--no-dht", "--no-lsd",
                         "--listen", "127.0.0.1:0", "--state-db", self.env.path("mag.db"),
                         "--encryption", "require", "-v", timeout=180)
        assert_same_tree(self, self.src, dest, self.files)
        # The torrent got the x.pe peer from the metadata fetch and connected to it itself
        # (not only when the seeder happened to connect back, a minute later).
        self.assertIn(f"connected to 127.0.0.12:{seeder.port} (outgoing)", proc.stderr)

    # -- incoming -----------------------------------------------------------------------------

    def test_libtorrent_leecher_forcing_rc4(self):
        proc, addr = self.start_seed("--no-trackers")
        leech = self.lt_peer("127.0.0.7", "leech", "forced", "rc4", peers=[addr])
        leech.wait_seeding(180)
        assert_same_tree(self, self.src, self.env.path("lt-leech-127.0.0.7"), self.files)
        self.stop_seed(proc)
        self.assertIn("protocol encryption (MSE/PE), RC4", self.env.log("torfs-seed"))

    def test_aria2c_requiring_arc4(self):
        ip = "127.0.0.8"
        url, _ = self.env.start_opentracker(ip, [lt_info_hash(self.torrent)])
        torrent = mktorrent(os.path.join(self.src, "e"), self.env.path("tracked.torrent"),
                            piece_log2=PIECE_LOG2, trackers=[url])
        self.torrent = torrent
        proc, _ = self.start_seed()
        dest = self.env.path("aria2")
        subprocess.run(["aria2c", "--seed-time=0", "--enable-dht=false", "--bt-enable-lpd=false",
                        "--enable-peer-exchange=false", "--interface=127.0.0.9",
                        "--file-allocation=none", "--bt-require-crypto=true",
                        "--bt-min-crypto-level=arc4", "--console-log-level=warn",
                        "--summary-interval=0", "--bt-stop-timeout=90", "-d", dest, torrent],
                       check=True, timeout=180, stdout=subprocess.DEVNULL)
        assert_same_tree(self, self.src, dest, self.files)
        self.stop_seed(proc)
        self.assertIn("protocol encryption (MSE/PE), RC4", self.env.log("torfs-seed"))

    def test_require_refuses_plain_leechers_and_serves_forced_ones(self):
        proc, addr = self.start_seed("--no-trackers", "--encryption", "require")
        plain = self.lt_peer("127.0.0.10", "leech", "disabled", peers=[addr])
        forced = self.lt_peer("127.0.0.11", "leech", "forced", "rc4", peers=[addr])
        forced.wait_seeding(180)
        assert_same_tree(self, self.src, self.env.path("lt-leech-127.0.0.11"), self.files)
        # libtorrent tried the plain one's connection at start-up, long before the forced one
        # finished; it got no data.
        wait_until(lambda: (plain.status() or {}).get("state") is not None, 20,
                   what="plain leecher status")
        self.assertEqual(plain.status()["total_payload_download"], 0)
        self.assertLess(plain.status()["progress"], 1.0)
        self.stop_seed(proc)


if __name__ == "__main__":
    main()
