"""torfs mount against real peers on loopback: a libtorrent seeder behind opentracker serves a
multi-file torrent; files are compared through the mount, read concurrently at random offsets
and across piece and file boundaries. A torrent nobody seeds shows that reads fail with EIO at
the deadline (ls/stat keep working), that SIGINT ends a blocked cat at once, and that unmount
or SIGTERM with reads parked leaves no hung process and no stale mount. A remount after a full
read transfers nothing."""
import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TORFS, Env, SharedEnvTestCase, file_offsets, free_port,  # noqa: E402
                     lt_info_hash, main, make_files, mktorrent, require_fuse, wait_until)

PIECE_LOG2 = 16  # 64 KiB pieces: many piece and file boundaries in a few MB
FILES = {"m/a.bin": 3_000_001, "m/sub/b.bin": 5 * 1024 * 1024, "m/empty": 0,
         "m/sub/c.txt": 77_777, "m/z.bin": 1_234_567}
LONELY = {"lonely/x.bin": 2_000_000, "lonely/y.bin": 100}

READER = r"""
import hashlib, random, sys
path, size, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
h = hashlib.sha256()
with open(path, "rb", buffering=0) as f:
    for _ in range(count):
        off = rng.randrange(size)
        n = rng.randrange(1, 300_000)
        f.seek(off)
        want = min(n, size - off)
        data = b""
        while len(data) < want:
            chunk = f.read(want - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) != want:
            sys.exit(f"short read at {off}: {len(data)} of {want}")
        h.update(data)
print(h.hexdigest())
"""


def expected_digest(path, size, seed, count):
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for _ in range(count):
            off = rng.randrange(size)
            n = rng.randrange(1, 300_000)
            f.seek(off)
            h.update(f.read(min(n, size - off)))
    return h.hexdigest()


def pids_holding(mountpoint):
    """PIDs of torfs processes serving `mountpoint` (the daemon's command line names it)."""
    out = subprocess.run(["pgrep", "-f", f"mount .* {mountpoint}"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if int(p) != os.getpid()]


class MountTest(SharedEnvTestCase):
    ENV_NAME = "mount"

    @classmethod
    def set_up_env(cls, env):
        cls.src = make_files(env.path("src"), FILES, seed=4)
        port = free_port("127.0.0.5")
        http = f"http://127.0.0.5:{port}/announce"
        cls.torrent = mktorrent(os.path.join(cls.src, "m"), env.path("m.torrent"),
                                PIECE_LOG2, trackers=[http])
        lonely_src = make_files(env.path("lonely-src"), LONELY, seed=5)
        cls.lonely = mktorrent(os.path.join(lonely_src, "lonely"), env.path("lonely.torrent"),
                               PIECE_LOG2)
        env.start_opentracker("127.0.0.5", [lt_info_hash(cls.torrent)], port=port)
        cls.seeder = env.start_lt_seeder(cls.torrent, cls.src, "127.0.0.2")
        cls.seeder.wait_seeding(60)

    def setUp(self):
        require_fuse(self)
        self.n = getattr(type(self), "_n", 0) + 1
        type(self)._n = self.n

    def mount(self, torrent, *extra, foreground=False, tag=None):
        tag = tag or f"t{self.n}"
        mp = self.env.path(tag, "mnt")
        os.makedirs(mp, exist_ok=True)
        args = ["--data-dir", self.env.path(tag, "data"), "--state-db",
                self.env.path(tag, "state.db"), "--listen", "127.0.0.1:0",
                "--log", self.env.path("logs", f"torfs-{tag}.log"), *extra]
        proc = self.env.mount(torrent, mp, *args, foreground=foreground, name=f"torfs-{tag}")
        return mp, proc

    def unmount_and_wait(self, mp, proc=None):
        subprocess.run(["fusermount3", "-u", mp], check=True, capture_output=True)
        if proc is not None:
            proc.wait(timeout=30)
        else:
            wait_until(lambda: not pids_holding(mp), 30, what="torfs daemon to exit")
        self.assertFalse(os.path.ismount(mp))

    def fail_with_logs(self, msg):
        self.env.dump_logs()
        self.fail(msg)

    # -- a seeded torrent ---------------------------------------------------------------------

    def test_cmp_every_file_and_zero_length(self):
        mp, _ = self.mount(self.torrent)
        try:
            self.assertEqual(sorted(os.listdir(os.path.join(mp, "m"))),
                             ["a.bin", "empty", "sub", "z.bin"])
            for rel, size in FILES.items():
                path = os.path.join(mp, rel)
                self.assertEqual(os.stat(path).st_size, size, rel)
                r = subprocess.run(["cmp", os.path.join(self.src, rel), path],
                                   capture_output=True, text=True, timeout=120)
                if r.returncode != 0:
                    self.fail_with_logs(f"cmp {rel}: {r.stdout}{r.stderr}")
            with open(os.path.join(mp, "m/empty"), "rb") as f:
                self.assertEqual(f.read(), b"")
            a = os.path.join(mp, "m/a.bin")
            self.assertEqual(os.stat(a).st_mode & 0o777, 0o444)
            # st_blocks counts verified bytes (du shows progress); attributes of a file still
            # downloading are cached for a second, so allow for that.
            wait_until(lambda: os.stat(a).st_blocks == (FILES["m/a.bin"] + 511) // 512, 5,
                       what="st_blocks of a.bin to show every byte verified")
            self.assertEqual(os.getxattr(a, "user.torfs.progress"), b"100.0")
        finally:
            self.unmount_and_wait(mp)

    def test_concurrent_random_reads_from_several_processes(self):
        mp, _ = self.mount(self.torrent)
        try:
            jobs = []
            for i, rel in enumerate(["m/a.bin", "m/sub/b.bin", "m/z.bin", "m/sub/b.bin"]):
                size = FILES[rel]
                p = subprocess.Popen([sys.executable, "-c", READER, os.path.join(mp, rel),
                                      str(size), str(100 + i), "40"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                jobs.append((rel, size, 100 + i, p))
            for rel, size, seed, p in jobs:
                out, err = p.communicate(timeout=180)
                if p.returncode != 0:
                    self.fail_with_logs(f"reader of {rel} failed: {err}")
                want = expected_digest(os.path.join(self.src, rel), size, seed, 40)
                self.assertEqual(out.strip(), want, rel)
        finally:
            self.unmount_and_wait(mp)

    def test_reads_across_piece_and_file_boundaries(self):
        mp, _ = self.mount(self.torrent, "--on-demand")
        try:
            piece = 1 << PIECE_LOG2
            # Every 7th piece boundary inside every file, read with 100 bytes either side, and
            # every file's end (where the next file starts in the same piece).
            offsets = file_offsets(self.torrent)
            checked = 0
            for rel, size in FILES.items():
                start = offsets[rel]
                first = (start + piece - 1) // piece * piece
                with open(os.path.join(self.src, rel), "rb") as src, \
                        open(os.path.join(mp, rel), "rb", buffering=0) as f:
                    for boundary in range(first, start + size, piece * 7):
                        off = max(0, boundary - start - 100)
                        src.seek(off)
                        want = src.read(200)
                        self.assertEqual(os.pread(f.fileno(), 200, off), want, f"{rel}@{off}")
                        checked += 1
                    off = max(0, size - 50)
                    src.seek(off)
                    self.assertEqual(os.pread(f.fileno(), 100, off), src.read(100), rel)
            self.assertGreater(checked, 10)
        finally:
            self.unmount_and_wait(mp)

    def test_remount_after_full_read_transfers_nothing(self):
        mp, proc = self.mount(self.torrent, foreground=True, tag="remount")
        for rel in FILES:
            r = subprocess.run(["cmp", os.path.join(self.src, rel), os.path.join(mp, rel)],
                               capture_output=True, timeout=120)
            self.assertEqual(r.returncode, 0, rel)
        self.unmount_and_wait(mp, proc)
        time.sleep(0.5)
        before = self.seeder.status()["total_payload_upload"]
        mp, proc = self.mount(self.torrent, foreground=True, tag="remount")
        try:
            for rel in FILES:
                r = subprocess.run(["cmp", os.path.join(self.src, rel), os.path.join(mp, rel)],
                                   capture_output=True, timeout=120)
                self.assertEqual(r.returncode, 0, rel)
            time.sleep(1.0)
            self.assertEqual(self.seeder.status()["total_payload_upload"], before,
                             "the seeder uploaded data to a remount of complete data")
        finally:
            self.unmount_and_wait(mp, proc)

    # -- a torrent nobody seeds -----------------------------------------------------------------

    def test_no_peer_read_fails_with_eio_while_ls_and_stat_work(self):
        mp, _ = self.mount(self.lonely, "--read-timeout", "3", "--no-trackers")
        try:
            path = os.path.join(mp, "lonely/x.bin")
            result = {}

            def reader():
                t0 = time.monotonic()
                result["cat"] = subprocess.run(["cat", path], capture_output=True, timeout=60)
                result["seconds"] = time.monotonic() - t0

            t = threading.Thread(target=reader)
            t.start()
            time.sleep(0.5)
            # While the read waits, metadata answers.
            t0 = time.monotonic()
            self.assertEqual(sorted(os.listdir(os.path.join(mp, "lonely"))), ["x.bin", "y.bin"])
            self.assertEqual(os.stat(path).st_size, LONELY["lonely/x.bin"])
            self.assertLess(time.monotonic() - t0, 2.0, "ls/stat blocked behind a parked read")
            self.assertTrue(t.is_alive(), "cat returned although no peer has the data")
            t.join(60)
            cat = result["cat"]
            self.assertNotEqual(cat.returncode, 0)
            self.assertIn(b"Input/output error", cat.stderr)
            self.assertGreaterEqual(result["seconds"], 2.5)
            with self.assertRaises(OSError) as ctx:
                with open(path, "rb") as f:
                    f.read(10)
            self.assertEqual(ctx.exception.errno, errno.EIO)
        finally:
            self.unmount_and_wait(mp)

    def test_sigint_on_blocked_cat_returns_promptly(self):
        mp, _ = self.mount(self.lonely, "--read-timeout", "120", "--no-trackers")
        try:
            cat = subprocess.Popen(["cat", os.path.join(mp, "lonely/x.bin")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            self.assertIsNone(cat.poll(), "cat finished although no peer has the data")
            t0 = time.monotonic()
            cat.send_signal(signal.SIGINT)
            try:
                cat.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cat.kill()
                self.fail_with_logs("cat still blocked 10 s after SIGINT")
            elapsed = time.monotonic() - t0
            sys.stderr.write(f"cat returned {elapsed:.3f} s after SIGINT\n")
            self.assertLess(elapsed, 5.0)
        finally:
            self.unmount_and_wait(mp)

    def test_sigterm_with_parked_reads_leaves_nothing_hanging(self):
        mp, proc = self.mount(self.lonely, "--read-timeout", "120", "--no-trackers",
                              foreground=True, tag="sigterm")
        cats = [subprocess.Popen(["cat", os.path.join(mp, rel)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for rel in LONELY]
        time.sleep(1.0)
        self.assertTrue(all(c.poll() is None for c in cats))
        proc.send_signal(signal.SIGTERM)
        for c in cats:
            try:
                c.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.kill()
                self.fail_with_logs("a reader hung after SIGTERM to torfs")
            self.assertNotEqual(c.returncode, 0)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail_with_logs("torfs did not exit after SIGTERM")
        self.assertEqual(proc.returncode, 0)
        self.assertFalse(os.path.ismount(mp), "stale mount after SIGTERM")

    def test_lazy_unmount_with_parked_read_leaves_nothing_hanging(self):
        mp, _ = self.mount(self.lonely, "--read-timeout", "120", "--no-trackers", tag="lazy")
        cat = subprocess.Popen(["cat", os.path.join(mp, "lonely/x.bin")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        self.assertIsNone(cat.poll())
        # The file is busy, so plain `fusermount3 -u` refuses; the lazy form detaches.
        subprocess.run(["fusermount3", "-u", "-z", mp], check=True, capture_output=True)
        try:
            cat.wait(timeout=15)
        except subprocess.TimeoutExpired:
            cat.kill()
            self.fail_with_logs("cat hung after a lazy unmount")
        self.assertNotEqual(cat.returncode, 0)
        wait_until(lambda: not pids_holding(mp), 30, what="torfs daemon to exit")
        self.assertFalse(os.path.ismount(mp))


if __name__ == "__main__":
    if not os.path.exists(TORFS):
        sys.exit(f"torfs binary not found at {TORFS} (set TORFS_BIN)")
    main()
