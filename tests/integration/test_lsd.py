"""Local service discovery (BEP 14) between two torfs processes on loopback: a seeder and a
leecher that are told nothing about each other (no trackers, no DHT, no --peer) find each
other through LSD multicast announces on the loopback interface, and the download completes;
with --no-lsd on both sides they do not."""
import filecmp
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TORFS, Env, main, make_files, mktorrent, run_torfs, wait_until  # noqa: E402


class LsdTest(unittest.TestCase):
    def run_pair(self, env, tag, *extra, timeout=60):
        src = make_files(env.path(tag, "src"), {"l/a.bin": 400_000 + len(tag)}, seed=len(tag))
        torrent = mktorrent(os.path.join(src, "l"), env.path(tag, "l.torrent"), 16)
        seeder = env.spawn([TORFS, "download", torrent, "-d", src, "--seed", "--state-db",
                            env.path(tag, "seed.db"), "--listen", "127.0.0.1:0", "--no-dht",
                            *extra], name=f"torfs-seed-{tag}")
        wait_until(lambda: "seeding on port" in env.log(f"torfs-seed-{tag}"), 30,
                   what="the torfs seeder to start")
        out = env.path(tag, "out")
        proc = run_torfs("download", torrent, "-d", out, "--state-db", env.path(tag, "leech.db"),
                         "--listen", "127.0.0.1:0", "--no-dht", *extra, check=False,
                         timeout=timeout)
        seeder.terminate()
        return proc, os.path.join(out, "l/a.bin"), os.path.join(src, "l/a.bin")

    def test_peers_find_each_other_on_the_local_network(self):
        env = Env("lsd")
        try:
            proc, got, want = self.run_pair(env, "on")
            if proc.returncode != 0:
                env.dump_logs()
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(filecmp.cmp(got, want, shallow=False))
        finally:
            env.cleanup()

    def test_no_lsd_finds_nobody(self):
        env = Env("nolsd")
        try:
            with self.assertRaises(subprocess.TimeoutExpired):  # nobody to download from
                self.run_pair(env, "off", "--no-lsd", timeout=8)
        finally:
            env.cleanup()


if __name__ == "__main__":
    main()
