"""torfs mount --cache-size: a 32 MiB torrent (256 KiB pieces) seeded by libtorrent on
127.0.0.2 is streamed through a mount capped at 8 MiB, with --on-demand and without it.

While the file is read sequentially, a thread samples the disk use of the data dir (sum of
st_blocks * 512 of every file under it) every 10 ms; the reader pauses 5 ms per 256 KiB so the
sampler sees every stage. Bounds asserted (docs/architecture.md, "Cache budget"):
  - the documented worst case: cap + per reader (its readahead window, which the engine clips
    to a quarter of the cap, + one piece) = 8 MiB + 2 MiB + 256 KiB;
  - and, because one reader's window and current pieces fit in the cap (eviction always finds
    a victim), the cap itself: 8 MiB.
Both plus 64 KiB for the filesystem's own extent-tree blocks of a file full of holes. The
measured maximum is printed. Also checked: the bytes read equal the source, re-reading the (evicted)
beginning fetches it again and returns the right bytes, and after unmount every completion row
in SQLite names a piece whose bytes on disk are correct.
"""
import hashlib
import os
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, main, make_files, mktorrent, require_fuse, wait_until  # noqa: E402

MiB = 1 << 20
PIECE = 256 * 1024
PIECE_LOG2 = 18
SIZE = 32 * MiB
CAP = 8 * MiB
WINDOW = CAP // 4  # the engine's clip of one reader's readahead window
FS_METADATA = 64 * 1024
BOUND = CAP + WINDOW + PIECE + FS_METADATA  # cap + one reader's (window + one piece)
ONE_READER_BOUND = CAP + FS_METADATA
FILES = {"c/stream.bin": SIZE}
CHUNK = 256 * 1024


def disk_use(root):
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


class Sampler(threading.Thread):
    """Disk use of a directory every 10 ms; .max is the largest seen."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.max = 0
        self.samples = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.max = max(self.max, disk_use(self.root))
            self.samples += 1
            self.stopped.wait(0.01)

    def stop(self):
        self.stopped.set()
        self.join()
        self.max = max(self.max, disk_use(self.root))


def read_uncached(path, offset, length):
    """Reads through FUSE, not the page cache (O_DIRECT: the mount honours it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        out = b""
        while len(out) < length:
            chunk = os.pread(fd, length - len(out), offset + len(out))
            if not chunk:
                break
            out += chunk
        return out
    finally:
        os.close(fd)


class CacheBudgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = Env("cache")
        env = cls.env
        try:
            cls.src = make_files(env.path("src"), FILES, seed=8)
            cls.torrent = mktorrent(os.path.join(cls.src, "c"), env.path("c.torrent"), PIECE_LOG2)
            with open(os.path.join(cls.src, "c/stream.bin"), "rb") as f:
                cls.data = f.read()
            cls.seeder = env.start_lt_seeder(cls.torrent, cls.src, "127.0.0.2", no_trackers=True)
            cls.seeder.wait_seeding(60)
        except BaseException:
            env.dump_logs()
            env.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.env.cleanup()

    def setUp(self):
        require_fuse(self)

    def mount(self, tag, *extra):
        mp = self.env.path(tag, "mnt")
        data = self.env.path(tag, "data")
        os.makedirs(data, exist_ok=True)
        db = self.env.path(tag, "state.db")
        proc = self.env.mount(
            self.torrent, mp, "--data-dir", data, "--state-db", db, "--listen", "127.0.0.1:0",
            "--peer", f"127.0.0.2:{self.seeder.port}", "--no-trackers", "--cache-size", "8M",
            "--read-timeout", "60", "-v", *extra, foreground=True, name=f"torfs-{tag}")
        return mp, data, db, proc

    def stream(self, path, sampler_root):
        sampler = Sampler(sampler_root)
        sampler.start()
        h = hashlib.sha256()
        n = 0
        try:
            with open(path, "rb", buffering=0) as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    time.sleep(0.005)
        finally:
            sampler.stop()
        self.assertEqual(n, SIZE)
        self.assertEqual(h.hexdigest(), hashlib.sha256(self.data).hexdigest())
        return sampler

    def check_beginning_refetched(self, path, data_file):
        # The first pieces were least recently used: evicted, a hole in the data file.
        fd = os.open(data_file, os.O_RDONLY)
        try:
            first_data = os.lseek(fd, 0, os.SEEK_DATA)
        finally:
            os.close(fd)
        self.assertGreaterEqual(first_data, 4 * PIECE, "the beginning was never evicted")
        self.assertEqual(read_uncached(path, 0, 4 * PIECE), self.data[:4 * PIECE])
        fd = os.open(data_file, os.O_RDONLY)
        try:
            self.assertEqual(os.lseek(fd, 0, os.SEEK_DATA), 0, "piece 0 was not fetched again")
        finally:
            os.close(fd)

    def unmount_and_check_rows(self, mp, data, db, proc):
        self.env.unmount(mp)
        proc.wait(timeout=30)
        self.assertLessEqual(disk_use(data), BOUND)
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("SELECT piece FROM pieces ORDER BY piece")]
        finally:
            conn.close()
        self.assertGreater(len(rows), 0)
        self.assertLessEqual(len(rows) * PIECE, BOUND)
        with open(os.path.join(data, "c/stream.bin"), "rb") as f:
            for p in rows:
                f.seek(p * PIECE)
                got = f.read(PIECE)
                want = self.data[p * PIECE:(p + 1) * PIECE]
                self.assertEqual(hashlib.sha1(got).digest(), hashlib.sha1(want).digest(),
                                 f"completion row for piece {p} but its bytes are wrong")
        return rows

    def test_on_demand_stream_stays_under_the_cap(self):
        mp, data, db, proc = self.mount("ondemand", "--on-demand")
        path = os.path.join(mp, "c", "stream.bin")
        try:
            sampler = self.stream(path, data)
            sys.stderr.write(f"\non-demand: max disk use {sampler.max} bytes "
                             f"({sampler.max / MiB:.3f} MiB, {sampler.samples} samples), "
                             f"cap {CAP}, asserted bounds {ONE_READER_BOUND} and {BOUND}\n")
            self.assertLessEqual(sampler.max, BOUND)
            self.assertLessEqual(sampler.max, ONE_READER_BOUND)
            self.assertGreaterEqual(sampler.max, CAP - 2 * PIECE, "the cache was never filled")
            self.check_beginning_refetched(path, os.path.join(data, "c/stream.bin"))
            log = self.env.log("torfs-ondemand")
            self.assertIn("cache: evicted", log)
        except BaseException:
            self.env.dump_logs()
            raise
        rows = self.unmount_and_check_rows(mp, data, db, proc)
        self.assertIn(0, rows)  # re-read last: resident, committed at unmount

    def test_background_fill_stops_at_the_cap_then_streams(self):
        mp, data, db, proc = self.mount("background")
        path = os.path.join(mp, "c", "stream.bin")
        try:
            wait_until(lambda: disk_use(data) >= CAP - 2 * PIECE, 60,
                       what="background download to fill the cache")
            time.sleep(2)  # a thrashing engine would keep downloading and evicting here
            filled = disk_use(data)
            self.assertLessEqual(filled, BOUND)
            sampler = self.stream(path, data)
            sys.stderr.write(f"\nbackground: filled to {filled} bytes, max disk use while "
                             f"streaming {sampler.max} bytes ({sampler.max / MiB:.3f} MiB), "
                             f"{sampler.samples} samples, asserted bounds {ONE_READER_BOUND} "
                             f"and {BOUND}\n")
            self.assertLessEqual(sampler.max, BOUND)
            self.assertLessEqual(sampler.max, ONE_READER_BOUND)
            self.check_beginning_refetched(path, os.path.join(data, "c/stream.bin"))
        except BaseException:
            self.env.dump_logs()
            raise
        self.unmount_and_check_rows(mp, data, db, proc)


if __name__ == "__main__":
    main()
