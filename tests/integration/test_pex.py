"""Peer exchange (BEP 11) against libtorrent on loopback: torfs knows a single peer, A, a
libtorrent leecher that starts with no data and downloads at most 4 KB/s. A is connected to B,
a libtorrent seeder that torfs is never told about (no trackers, no DHT). The download can only
complete if torfs learns B from A's ut_pex messages; B's upload counter shows that torfs got
(nearly) everything from B."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Env, assert_same_tree, main, make_files, mktorrent, run_torfs,  # noqa: E402
                     wait_until)

FILES = {"p/x.bin": 900_000, "p/y.bin": 33_333}


class PexTest(unittest.TestCase):
    def test_leecher_learns_second_seeder_through_pex(self):
        env = Env("pex")
        try:
            src = make_files(env.path("src"), FILES, seed=11)
            torrent = mktorrent(os.path.join(src, "p"), env.path("p.torrent"), 16)
            seeder = env.start_lt_seeder(torrent, src, "127.0.0.3", no_trackers=True)
            seeder.wait_seeding(60)
            b = f"127.0.0.3:{seeder.port}"
            os.makedirs(env.path("a-data"))
            a = env.start_lt_peer(torrent, env.path("a-data"), "127.0.0.2", mode="leech",
                                  peers=[b], download_limit=4096, no_trackers=True)
            out = env.path("out")
            proc = run_torfs("download", torrent, "-d", out, "--state-db", env.path("state.db"),
                             "--listen", "127.0.0.1:0", "--peer", f"127.0.0.2:{a.port}",
                             "--no-trackers", "--no-dht", "--no-lsd", "-v", check=False,
                             timeout=240)
            if proc.returncode != 0:
                env.dump_logs()
            self.assertEqual(proc.returncode, 0, proc.stderr[-5000:])
            self.assertIn("(pex)", proc.stderr)
            total = sum(FILES.values())
            uploaded = lambda: (seeder.status() or {}).get("total_payload_upload", 0)
            wait_until(lambda: uploaded() >= total // 2, 10, what="B's upload counter")
            # A can have relayed at most what it got at 4 KB/s; the rest came from B.
            self.assertGreaterEqual(uploaded(), total // 2)
            assert_same_tree(self, src, out, FILES)
        finally:
            env.cleanup()


if __name__ == "__main__":
    main()
