"""Magnet links against real peers on loopback: a libtorrent seeder behind opentracker serves a
multi-file torrent that torfs knows only by its magnet link (tr= pointing at the tracker).
torfs fetches the info dictionary with ut_metadata, mounts the full tree and the bytes equal
the originals; a remount of the same magnet with the seeder gone still shows the tree (the
metadata came from SQLite). `torfs download MAGNET` with an x.pe peer works the same way, and
a magnet nobody seeds fails after --metadata-timeout with a clear message."""
import filecmp
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LT_PEER, SYSTEM_PYTHON, TORFS, Env, LtPeer, SharedEnvTestCase,  # noqa: E402
                     assert_same_tree, free_port, lt_info_hash, main, make_files, mktorrent,
                     port_open, require_fuse, run_torfs, wait_tracker_seeders, wait_until)

FILES = {"mag/a.bin": 1_500_001, "mag/sub/b.bin": 700_000, "mag/c.txt": 12_345}
# Enough files that the info dictionary spans several 16 KiB metadata pieces.
MANY = {f"many/d{i // 50}/file-with-a-longish-name-{i:04d}.bin": 1000 + i for i in range(600)}


class MagnetTest(SharedEnvTestCase):
    ENV_NAME = "magnet"

    @classmethod
    def set_up_env(cls, env):
        cls.src = make_files(env.path("src"), {**FILES, **MANY}, seed=7)
        port = free_port("127.0.0.5")
        cls.announce = f"http://127.0.0.5:{port}/announce"
        cls.torrent = mktorrent(os.path.join(cls.src, "mag"), env.path("mag.torrent"), 16,
                                trackers=[cls.announce])
        cls.many = mktorrent(os.path.join(cls.src, "many"), env.path("many.torrent"), 16)
        cls.hash = lt_info_hash(cls.torrent)
        cls.many_hash = lt_info_hash(cls.many)
        env.start_opentracker("127.0.0.5", [cls.hash], port=port)
        cls.seeder = env.start_lt_seeder(cls.torrent, cls.src, "127.0.0.2")
        cls.seeder.wait_seeding(60)
        cls.many_seeder = env.start_lt_seeder(cls.many, cls.src, "127.0.0.3", no_trackers=True)
        cls.many_seeder.wait_seeding(60)
        wait_tracker_seeders(cls.announce, cls.hash)

    def magnet(self):
        return f"magnet:?xt=urn:btih:{self.hash}&dn=mag&tr={self.announce}"

    def test_mount_magnet_then_remount_without_peers(self):
        require_fuse(self)
        env = self.env
        mp = env.path("m1", "mnt")
        args = ["--data-dir", env.path("m1", "data"), "--state-db", env.path("m1", "state.db"),
                "--listen", "127.0.0.1:0", "--no-dht", "--log", env.path("logs", "torfs-m1.log")]
        try:
            env.mount(self.magnet(), mp, *args)
            self.assertEqual(sorted(os.listdir(os.path.join(mp, "mag"))),
                             ["a.bin", "c.txt", "sub"])
            for rel in FILES:
                self.assertTrue(filecmp.cmp(os.path.join(mp, rel), os.path.join(self.src, rel),
                                            shallow=False), rel)
            env.unmount(mp)
            # The seeder goes away: the metadata must come from the state database now.
            os.killpg(self.seeder.proc.pid, signal.SIGTERM)
            self.seeder.proc.wait(timeout=20)
            env.mount(self.magnet(), mp, *args, "--metadata-timeout", "5")
            self.assertEqual(sorted(os.listdir(os.path.join(mp, "mag"))),
                             ["a.bin", "c.txt", "sub"])
            self.assertEqual(os.path.getsize(os.path.join(mp, "mag", "a.bin")), 1_500_001)
            self.assertTrue(filecmp.cmp(os.path.join(mp, "mag/c.txt"),
                                        os.path.join(self.src, "mag/c.txt"), shallow=False))
        except BaseException:
            env.dump_logs()
            raise
        finally:
            env.unmount(mp)

    def test_download_magnet_with_peer_address(self):
        env = self.env
        peer = f"127.0.0.3:{self.many_seeder.port}"
        magnet = f"magnet:?xt=urn:btih:{self.many_hash}&x.pe={peer}"
        out = env.path("dl")
        proc = run_torfs("download", magnet, "-d", out, "--state-db", env.path("dl.db"),
                         "--listen", "127.0.0.1:0", "--no-dht", "--metadata-timeout", "60", "-v",
                         timeout=180)
        self.assertIn("fetching metadata", proc.stderr)
        cmp = filecmp.dircmp(os.path.join(out, "many"), os.path.join(self.src, "many"))
        self.assertEqual(len(MANY), sum(1 for rel in MANY
                                        if filecmp.cmp(os.path.join(out, rel),
                                                       os.path.join(self.src, rel),
                                                       shallow=False)))
        self.assertFalse(cmp.left_only or cmp.right_only)

    def test_download_torrent_from_http_url(self):
        env = self.env
        port = free_port("127.0.0.4")
        env.spawn([sys.executable, "-m", "http.server", "--bind", "127.0.0.4", str(port),
                   "--directory", os.path.dirname(self.many)], name="http-server")
        wait_until(lambda: port_open("127.0.0.4", port), 10, what="http.server to listen")
        url = f"http://127.0.0.4:{port}/{os.path.basename(self.many)}"
        out = env.path("dl-url")
        run_torfs("download", url, "-d", out, "--state-db", env.path("dl-url.db"), "--listen",
                  "127.0.0.1:0", "--no-dht", "--peer", f"127.0.0.3:{self.many_seeder.port}",
                  timeout=180)
        rel = next(iter(MANY))
        self.assertTrue(filecmp.cmp(os.path.join(out, rel), os.path.join(self.src, rel),
                                    shallow=False))
        missing = run_torfs("download", url + ".nope", "-d", out, check=False, timeout=60)
        self.assertEqual(missing.returncode, 2, missing.stderr)
        self.assertIn("404", missing.stderr)

    def test_metadata_timeout_is_a_clear_error(self):
        magnet = "magnet:?xt=urn:btih:" + "ab" * 20 + "&x.pe=127.0.0.9:9"
        proc = run_torfs("download", magnet, "-d", self.env.path("none"), "--state-db",
                         self.env.path("none.db"), "--listen", "127.0.0.1:0", "--no-dht",
                         "--metadata-timeout", "2", check=False, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("cannot get the metadata", proc.stderr)
        self.assertIn("within the timeout", proc.stderr)

    def test_interrupt_while_fetching_metadata(self):
        magnet = "magnet:?xt=urn:btih:" + "cd" * 20
        proc = self.env.spawn([TORFS, "download", magnet, "-d", self.env.path("intr"),
                               "--state-db", self.env.path("intr.db"), "--listen", "127.0.0.1:0",
                               "--no-dht", "--no-lsd", "--metadata-timeout", "120"],
                              name="torfs-intr")
        wait_until(lambda: "fetching metadata" in self.env.log("torfs-intr"), 20,
                   what="the metadata fetch to start")
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=20), 130, self.env.log("torfs-intr"))
        self.assertIn("interrupted while fetching the metadata", self.env.log("torfs-intr"))


class DhtMagnetTest(unittest.TestCase):
    """A magnet with no tracker and no peer address: a libtorrent seeder with DHT enabled is
    found through our DHT node, bootstrapped through the libtorrent node on loopback."""

    def test_download_magnet_found_through_dht(self):
        env = Env("magnet-dht")
        try:
            files = {"d/x.bin": 300_000, "d/y.txt": 999}
            src = make_files(env.path("src"), files, seed=9)
            torrent = mktorrent(os.path.join(src, "d"), env.path("d.torrent"), 16)
            info_hash = lt_info_hash(torrent)
            status = env.path("lt-dht.status.json")
            seeder = LtPeer(env.spawn([SYSTEM_PYTHON, LT_PEER, "--torrent", torrent, "--save", src,
                                       "--ip", "127.0.0.6", "--mode", "seed", "--status", status,
                                       "--dht"], name="lt-dht"), status)
            seeder.wait_seeding(60)
            out = env.path("out")
            proc = run_torfs("download", f"magnet:?xt=urn:btih:{info_hash}", "-d", out,
                             "--state-db", env.path("state.db"), "--listen", "127.0.0.1:0",
                             "--dht-bootstrap", f"127.0.0.6:{seeder.port}",
                             "--metadata-timeout", "90", "--no-trackers", "--no-lsd", check=False,
                             timeout=240)
            if proc.returncode != 0:
                env.dump_logs()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            assert_same_tree(self, src, out, files)
        finally:
            env.cleanup()


if __name__ == "__main__":
    main()
