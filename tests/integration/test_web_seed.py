"""Web seeds (BEP 19) on loopback, with no peers and no tracker: a range-capable HTTP server
(range_http.py) is the only source. `torfs download` completes single- and multi-file torrents
(file names that need percent-encoding, a file renamed on disk fetched under its torrent
name), in few long range requests; `torfs mount --on-demand` streams a file from the web
seed alone; a range served corrupted once is refetched and never shows through the mount; a
web seed answering 404 is logged with its URL and reads fail with EIO at --read-timeout."""
import errno
import hashlib
import os
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, lt_info_hash, main, make_files, mktorrent,  # noqa: E402
                     require_fuse, run_torfs, sha256_file, wait_until)
from range_http import RangeServer  # noqa: E402

PIECE_LOG2 = 16  # 64 KiB pieces: many pieces, several per fetch, pieces spanning files
MULTI = {"ws multi/a.bin": 2_500_001, "ws multi/sub dir/b #1.bin": 1_300_000,
         "ws multi/c.txt": 77_777, "ws multi/empty": 0}


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


class WebSeedTest(unittest.TestCase):
    def setUp(self):
        self.env = Env("webseed")

    def tearDown(self):
        if sys.exc_info()[0] is not None:
            self.env.dump_logs()
        self.env.cleanup()

    def common(self, tag):
        return ["--listen", "127.0.0.1:0", "--state-db", self.env.path(tag, "state.db"),
                "--no-trackers", "--no-dht", "--no-lsd"]

    def multi_torrent(self, server_ip="127.0.0.2", prefix="/", **server_kw):
        src = make_files(self.env.path("src"), MULTI, seed=7)
        server = RangeServer(src, server_ip, **server_kw)
        torrent = mktorrent(os.path.join(src, "ws multi"), self.env.path("multi.torrent"),
                            PIECE_LOG2, web_seeds=[server.url + prefix])
        return src, server, torrent

    def mount(self, torrent, tag, *extra):
        mp = self.env.path(tag, "mnt")
        self.env.mount(torrent, mp, "--data-dir", self.env.path(tag, "data"),
                       "--log", self.env.path("logs", f"torfs-{tag}.log"),
                       *self.common(tag), *extra)
        return mp

    def unmount(self, mp):
        subprocess.run(["fusermount3", "-u", mp], capture_output=True)
        wait_until(lambda: not os.path.ismount(mp), 30, what="unmount")

    def assert_log_eventually(self, tag, text, timeout=20):
        wait_until(lambda: text in self.env.log(f"torfs-{tag}"), timeout,
                   what=f"'{text}' in the torfs log")

    # -- torfs download -------------------------------------------------------------------------

    def download_one_file(self, name, size, seed):
        """Serves one file, downloads its torrent from the web seed only and checks the bytes;
        returns the (stopped) server, whose request log stays readable."""
        src = make_files(self.env.path("src"), {name: size}, seed=seed)
        with RangeServer(src, "127.0.0.2") as server:
            torrent = mktorrent(os.path.join(src, name), self.env.path(f"{name}.torrent"),
                                PIECE_LOG2, web_seeds=[f"{server.url}/{name}"])
            dest = self.env.path("dl", "dest")
            run_torfs("download", torrent, "-d", dest, *self.common("dl"), timeout=180)
            self.assertEqual(sha256_file(os.path.join(src, name)),
                             sha256_file(os.path.join(dest, name)))
        return server

    def test_download_single_file_from_web_seed_only(self):
        server = self.download_one_file("one.bin", 3 * 1024 * 1024 + 12345, seed=3)
        self.assertGreater(server.count(206), 0)
        self.assertEqual(0, server.count(404))

    def test_download_uses_few_long_range_requests(self):
        # 24 MiB in 64 KiB pieces (385 pieces): each fetch takes the longest unclaimed run of
        # pieces (up to web_seed::kMaxFetchBytes = 4 MiB), so seven requests cover the file.
        # Fetches that stopped at pieces claimed in random order took ~10 or more here.
        # A scheduler property, not a timing one.
        size = 24 * 1024 * 1024 + 12345
        server = self.download_one_file("long.bin", size, seed=5)
        ranges = [r[1] for r in server.requests]
        self.assertEqual(len(ranges), server.count(206), server.requests)
        self.assertLessEqual(len(ranges), 7, ranges)
        spans = sorted(tuple(map(int, r[len("bytes="):].split("-"))) for r in ranges)
        self.assertEqual(size, sum(last - first + 1 for first, last in spans), spans)

    def test_no_web_seeds_leaves_the_server_alone(self):
        src, server, torrent = self.multi_torrent()
        with server:
            mp = self.mount(torrent, "off", "--no-web-seeds", "--read-timeout", "2")
            try:
                with self.assertRaises(OSError) as caught:
                    with open(os.path.join(mp, "ws multi", "c.txt"), "rb") as f:
                        f.read()
                self.assertEqual(caught.exception.errno, errno.EIO)
                self.assertEqual(server.requests, [])
            finally:
                self.unmount(mp)

    def test_download_multi_file_from_web_seed_only(self):
        src, server, torrent = self.multi_torrent()
        with server:
            dest = self.env.path("dl", "dest")
            run_torfs("download", torrent, "-d", dest, *self.common("dl"), timeout=180)
            for rel in MULTI:
                got = os.path.join(dest, rel)
                self.assertTrue(os.path.isfile(got), f"{rel} missing")
                self.assertEqual(sha256_file(os.path.join(src, rel)), sha256_file(got), rel)
            paths = {r[0] for r in server.requests}
            self.assertIn("ws multi/sub dir/b #1.bin", paths)  # decoded by the server
            self.assertEqual(0, server.count(404))

    def test_renamed_file_is_fetched_under_its_original_name(self):
        # '\' is valid in a Linux file name but the path sanitizer renames it to '_' on disk;
        # the server has the file under the torrent's own name, so that is the URL (BEP 19).
        files = {"ren set/dir/back\\slash.bin": 700_001, "ren set/ok.txt": 30_000}
        src = make_files(self.env.path("src"), files, seed=11)
        with RangeServer(src, "127.0.0.2") as server:
            torrent = mktorrent(os.path.join(src, "ren set"), self.env.path("ren.torrent"),
                                PIECE_LOG2, web_seeds=[server.url + "/"])
            dest = self.env.path("dl", "dest")
            run_torfs("download", torrent, "-d", dest, *self.common("dl"), timeout=180)
            for rel, on_disk in (("ren set/dir/back\\slash.bin", "ren set/dir/back_slash.bin"),
                                 ("ren set/ok.txt", "ren set/ok.txt")):
                self.assertEqual(sha256_file(os.path.join(src, rel)),
                                 sha256_file(os.path.join(dest, on_disk)), rel)
            self.assertIn("ren set/dir/back\\slash.bin", {r[0] for r in server.requests})
            self.assertEqual(0, server.count(404), server.requests)

    def test_download_follows_redirects(self):
        src, server, torrent = self.multi_torrent(prefix="/r")  # no trailing slash either
        with server:
            dest = self.env.path("dl", "dest")
            run_torfs("download", torrent, "-d", dest, *self.common("dl"), timeout=180)
            for rel in MULTI:
                self.assertEqual(sha256_file(os.path.join(src, rel)),
                                 sha256_file(os.path.join(dest, rel)), rel)
            self.assertGreater(server.count(302), 0)
            self.assertGreater(server.count(206), 0)

    # -- torfs mount ----------------------------------------------------------------------------

    def test_mount_streams_a_file_from_the_web_seed(self):
        require_fuse(self)
        src, server, torrent = self.multi_torrent()
        with server:
            mp = self.mount(torrent, "mnt", "--on-demand", "--read-timeout", "60")
            try:
                rel = "ws multi/sub dir/b #1.bin"
                with open(os.path.join(mp, rel), "rb") as f:
                    first = f.read(100_000)
                    rest = f.read()
                with open(os.path.join(src, rel), "rb") as f:
                    want = f.read()
                self.assertEqual(sha256_bytes(want), sha256_bytes(first + rest))
                # On demand: the other big file was not fetched as a whole.
                a_requests = [r for r in server.requests if r[0] == "ws multi/a.bin"]
                self.assertLess(len(a_requests), 10, a_requests)
            finally:
                self.unmount(mp)

    def test_slow_peer_and_web_seed_together_serve_correct_bytes(self):
        require_fuse(self)
        src, server, torrent = self.multi_torrent()
        with server:
            seeder = self.env.start_lt_seeder(torrent, src, "127.0.0.3", upload_limit=200_000)
            seeder.wait_seeding(60)
            mp = self.mount(torrent, "mixed", "--on-demand", "--read-timeout", "60", "--peer",
                            f"127.0.0.3:{seeder.port}", "-v")
            try:
                # Reads start once the peer serves us: the web seed then only helps with pieces
                # the peer is slow with (and its late copies are dropped).
                self.assert_log_eventually("mixed", "connected to 127.0.0.3", timeout=30)
                for rel in ("ws multi/a.bin", "ws multi/c.txt"):
                    with open(os.path.join(mp, rel), "rb") as f:
                        got = f.read()
                    self.assertEqual(sha256_file(os.path.join(src, rel)), sha256_bytes(got), rel)
                self.assertEqual(0, server.count(404))
            finally:
                self.unmount(mp)

    def test_magnet_ws_web_seed_serves_what_a_slow_peer_would_not(self):
        # The torrent has no url-list: the web seed comes from the magnet's ws= only; the peer
        # (x.pe) supplies the metadata but uploads at a trickle.
        require_fuse(self)
        src = make_files(self.env.path("src"), MULTI, seed=7)
        server = RangeServer(src, "127.0.0.2")
        torrent = mktorrent(os.path.join(src, "ws multi"), self.env.path("plain.torrent"),
                            PIECE_LOG2)
        info_hash = lt_info_hash(torrent)
        with server:
            seeder = self.env.start_lt_seeder(torrent, src, "127.0.0.3", upload_limit=5_000)
            seeder.wait_seeding(60)
            ws = urllib.parse.quote(server.url + "/", safe="")
            magnet = (f"magnet:?xt=urn:btih:{info_hash}&x.pe=127.0.0.3:{seeder.port}"
                      f"&ws={ws}")
            mp = self.mount(magnet, "magnet", "--on-demand", "--read-timeout", "120",
                            "--metadata-timeout", "60")
            try:
                rel = "ws multi/a.bin"
                with open(os.path.join(mp, rel), "rb") as f:
                    got = f.read()
                self.assertEqual(sha256_file(os.path.join(src, rel)), sha256_bytes(got))
                # 2.5 MB at 5 kB/s would take minutes: the web seed served the reads.
                self.assertGreater(server.count(206), 0)
                self.assertIn(server.url, self.env.log("torfs-magnet"))
            finally:
                self.unmount(mp)

    def test_corrupted_range_is_refetched_and_never_served(self):
        require_fuse(self)
        bad_offset = 3 * 65536 + 17  # inside piece 3 of a.bin (the torrent's first file)
        src, server, torrent = self.multi_torrent(corrupt=[("ws multi/a.bin", bad_offset)])
        with server:
            mp = self.mount(torrent, "bad", "--on-demand", "--read-timeout", "60")
            try:
                rel = "ws multi/a.bin"
                with open(os.path.join(mp, rel), "rb") as f:
                    got = f.read()
                with open(os.path.join(src, rel), "rb") as f:
                    want = f.read()
                self.assertEqual(len(want), len(got))
                self.assertEqual(want[bad_offset], got[bad_offset])
                self.assertEqual(sha256_bytes(want), sha256_bytes(got))
                self.assertEqual(set(), server.corrupt, "the corrupted range was never served")
                self.assert_log_eventually("bad", "failed its hash check")
                covering = [r for r in server.requests if r[0] == rel and r[1] and
                            int(r[1][6:].split("-")[0]) <= bad_offset <=
                            int(r[1].split("-")[1])]
                self.assertGreaterEqual(len(covering), 2, server.requests)
            finally:
                self.unmount(mp)

    def test_web_seed_404_is_logged_and_reads_fail_with_eio(self):
        require_fuse(self)
        src, server, torrent = self.multi_torrent(missing=True)
        with server:
            mp = self.mount(torrent, "missing", "--on-demand", "--read-timeout", "3")
            try:
                path = os.path.join(mp, "ws multi/c.txt")
                t0 = time.monotonic()
                with self.assertRaises(OSError) as ctx:
                    with open(path, "rb") as f:
                        f.read(10)
                self.assertEqual(errno.EIO, ctx.exception.errno)
                self.assertLess(time.monotonic() - t0, 30, "read hung past --read-timeout")
                self.assert_log_eventually("missing", "HTTP status 404")
                log = self.env.log("torfs-missing")
                self.assertIn(server.url, log)
                # Failures back off: a handful of requests, not a storm.
                self.assertLess(server.count(404), 20)
                # The mount stays usable.
                self.assertIn("c.txt", os.listdir(os.path.join(mp, "ws multi")))
            finally:
                self.unmount(mp)


if __name__ == "__main__":
    main()
