"""Crash safety of piece completion (docs/sqlite-schema.md: "a row in `pieces` means the piece's
SHA-1 matched AND its bytes are durable").

- SIGKILL a downloading torfs at random moments, many rounds in a row, restarting it each time
  with the same --state-db and data dir. After every kill, every piece the database marks
  complete must hash correctly against the .torrent, and no piece marked complete earlier may
  disappear. The last run completes and the data is byte-identical.
- A garbage, truncated or page-corrupted database: torfs says it rebuilds, re-hashes the data
  it finds, re-fetches only what is bad, and ends byte-identical.

TORFS_CRASH_ROUNDS (default 20) sets the number of SIGKILL rounds; TORFS_CRASH_SEED the RNG
seed (printed, so a failure can be replayed)."""
import hashlib
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TORFS, Env, lt_info_hash, main, make_files, mktorrent,  # noqa: E402
                     require_fuse, run_torfs, sha256_file, tear_down_env)

PIECE_LOG2 = 16
PIECE = 1 << PIECE_LOG2


def bdecode(data, i=0):
    """Minimal bencode decoder for the test's own .torrent files: (value, next index)."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        i, out = i + 1, []
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i, out = i + 1, {}
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            out[k], i = bdecode(data, i)
        return out, i + 1
    colon = data.index(b":", i)
    n = int(data[i:colon])
    return data[colon + 1:colon + 1 + n], colon + 1 + n


def piece_hashes(torrent):
    with open(torrent, "rb") as f:
        meta, _ = bdecode(f.read())
    raw = meta[b"info"][b"pieces"]
    return [raw[k:k + 20] for k in range(0, len(raw), 20)]


def completed_pieces(db, info_hash_hex):
    """Pieces the database marks complete for the torrent (empty if it has no row yet)."""
    if not os.path.exists(db):
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT p.piece FROM pieces p JOIN torrents t ON t.id = p.torrent_id "
                           "WHERE t.info_hash = ?", (bytes.fromhex(info_hash_hex),)).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return set()
        raise
    finally:
        con.close()
    return {r[0] for r in rows}


def bad_pieces(data_file, hashes, pieces):
    """The subset of `pieces` whose bytes in data_file do not match their SHA-1."""
    bad = []
    with open(data_file, "rb") as f:
        for p in sorted(pieces):
            f.seek(p * PIECE)
            if hashlib.sha1(f.read(PIECE)).digest() != hashes[p]:
                bad.append(p)
    return bad


def summary(stderr):
    m = re.search(r"(\d+)/(\d+) pieces verified \((\d+) at start\)", stderr)
    assert m, f"no summary line in:\n{stderr}"
    return int(m.group(1)), int(m.group(3))


class CrashSafetyTest(unittest.TestCase):
    def setUp(self):
        self.env = Env("crash")

    def tearDown(self):
        tear_down_env(self, self.env, dead_mounts=True)

    def make_torrent(self, size):
        env = self.env
        src = env.path("src")
        os.makedirs(src, exist_ok=True)
        make_files(src, {"c.bin": size}, seed=7)
        self.src_file = os.path.join(src, "c.bin")
        self.torrent = mktorrent(self.src_file, env.path("t.torrent"), piece_log2=PIECE_LOG2)
        self.info_hash = lt_info_hash(self.torrent)
        self.hashes = piece_hashes(self.torrent)
        self.assertEqual(len(self.hashes), (size + PIECE - 1) // PIECE)
        self.dest = env.path("dl")
        self.db = env.path("state.db")
        self.data_file = os.path.join(self.dest, "c.bin")
        return src

    def download(self, *peers, check=True, timeout=180):
        args = []
        for p in peers:
            args += ["--peer", p]
        return run_torfs("download", self.torrent, "-d", self.dest, "--no-trackers", "--listen",
                         "127.0.0.1:0", "--state-db", self.db, *args, check=check,
                         timeout=timeout)

    def test_sigkill_at_random_moments(self):
        rounds = int(os.environ.get("TORFS_CRASH_ROUNDS", "20"))
        seed = int(os.environ.get("TORFS_CRASH_SEED", str(random.randrange(1 << 30))))
        print(f"TORFS_CRASH_SEED={seed}", file=sys.stderr)
        rng = random.Random(seed)
        src = self.make_torrent(24 * 1024 * 1024 + 4321)
        env = self.env
        # Slow enough that 20 short rounds cannot finish the torrent.
        slow = env.start_lt_seeder(self.torrent, src, ip="127.0.0.2", upload_limit=600_000,
                                   no_trackers=True)
        peer = f"127.0.0.2:{slow.port}"
        durable = set()
        for n in range(rounds):
            proc = env.spawn([TORFS, "download", self.torrent, "-d", self.dest, "--no-trackers",
                              "--peer", peer, "--listen", "127.0.0.1:0", "--state-db", self.db],
                             name=f"round-{n}")
            time.sleep(rng.uniform(0.3, 1.8))
            self.assertIsNone(proc.poll(), f"round {n}: torfs ended before the kill:\n"
                              f"{env.log(f'round-{n}')}")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            now = completed_pieces(self.db, self.info_hash)
            lost = durable - now
            self.assertFalse(lost, f"round {n}: pieces marked complete before were lost: "
                             f"{sorted(lost)[:10]}")
            bad = bad_pieces(self.data_file, self.hashes, now) if now else []
            self.assertFalse(bad, f"round {n}: pieces marked complete but wrong on disk: {bad}")
            print(f"round {n}: {len(now)} pieces durable", file=sys.stderr)
            durable = now
        self.assertLess(len(durable), len(self.hashes), "the torrent completed during the kills")
        self.assertGreater(len(durable), 0, "no piece was ever committed: the test proves nothing")
        # Last run: an extra, unlimited seeder so the rest comes fast.
        fast = env.start_lt_seeder(self.torrent, src, ip="127.0.0.3", no_trackers=True)
        final = self.download(peer, f"127.0.0.3:{fast.port}")
        verified, at_start = summary(final.stderr)
        self.assertEqual(verified, len(self.hashes))
        self.assertGreaterEqual(at_start, len(durable), final.stderr)
        self.assertEqual(sha256_file(self.src_file), sha256_file(self.data_file))
        self.assertEqual(completed_pieces(self.db, self.info_hash), set(range(len(self.hashes))))

    def test_sigkill_mount_while_reading(self):
        """The same through `torfs mount -f` with a reader: the dead FUSE mount is lazily
        unmounted after each kill, then remounted on the same data dir and database."""
        require_fuse(self)
        rounds = int(os.environ.get("TORFS_CRASH_MOUNT_ROUNDS", "6"))
        rng = random.Random(int(os.environ.get("TORFS_CRASH_SEED", "11")))
        src = self.make_torrent(12 * 1024 * 1024 + 99)
        env = self.env
        slow = env.start_lt_seeder(self.torrent, src, ip="127.0.0.2", upload_limit=600_000,
                                   no_trackers=True)
        mnt = env.path("mnt")
        args = ["--data-dir", self.dest, "--state-db", self.db, "--no-trackers", "--listen",
                "127.0.0.1:0", "--peer", f"127.0.0.2:{slow.port}"]
        durable = set()
        for n in range(rounds):
            proc = env.mount(self.torrent, mnt, *args, foreground=True, name=f"mount-{n}")
            reader = env.spawn(["cat", os.path.join(mnt, "c.bin")], name=f"cat-{n}",
                               stdin=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 2.0))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            subprocess.run(["umount", "-l", mnt], capture_output=True)
            reader.wait(20)
            now = completed_pieces(self.db, self.info_hash)
            self.assertFalse(durable - now, f"mount round {n}: committed pieces were lost")
            bad = bad_pieces(self.data_file, self.hashes, now) if now else []
            self.assertFalse(bad, f"mount round {n}: marked complete but wrong on disk: {bad}")
            durable = now
        self.assertGreater(len(durable), 0, "no piece was ever committed: the test proves nothing")
        env.mount(self.torrent, mnt, *args, "--read-timeout", "120", foreground=True,
                  name="mount-final")
        self.assertEqual(sha256_file(self.src_file), sha256_file(os.path.join(mnt, "c.bin")))
        env.unmount(mnt)
        self.assertEqual(sha256_file(self.src_file), sha256_file(self.data_file))

    # -- damaged databases --------------------------------------------------------------------

    def damaged_database(self, damage):
        """Completes a download, damages the database with damage(path) and one data piece,
        then reruns: torfs must say it rebuilds, re-hash, re-fetch just the bad piece."""
        src = self.make_torrent(3 * 1024 * 1024 + 77)
        seeder = self.env.start_lt_seeder(self.torrent, src, ip="127.0.0.2", no_trackers=True)
        peer = f"127.0.0.2:{seeder.port}"
        self.download(peer)
        self.assertEqual(sha256_file(self.src_file), sha256_file(self.data_file))
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        damage(self.db)
        with open(self.data_file, "r+b") as f:  # piece 5 goes bad behind torfs's back
            f.seek(5 * PIECE + 100)
            b = f.read(1)
            f.seek(5 * PIECE + 100)
            f.write(bytes([b[0] ^ 0x5A]))
        rerun = self.download(peer)
        out = rerun.stderr
        self.assertRegex(out, r"completion database reset|database was reset", out)
        m = re.search(r"re-check found (\d+) of (\d+) piece\(s\) good", out)
        self.assertIsNotNone(m, out)
        self.assertEqual((int(m.group(1)), int(m.group(2))),
                         (len(self.hashes) - 1, len(self.hashes)), out)
        verified, at_start = summary(out)
        self.assertEqual((verified, at_start), (len(self.hashes), len(self.hashes) - 1), out)
        self.assertEqual(sha256_file(self.src_file), sha256_file(self.data_file))
        self.assertEqual(completed_pieces(self.db, self.info_hash), set(range(len(self.hashes))))
        return out

    def test_garbage_database(self):
        def garbage(path):
            with open(path, "wb") as f:
                f.write(random.Random(3).randbytes(64 * 1024))
        self.damaged_database(garbage)

    def test_truncated_database(self):
        def truncate(path):
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.truncate(max(100, size // 2 + 123))
        self.damaged_database(truncate)

    def test_corrupted_pages_database(self):
        def scribble(path):
            # A valid header (SQLite opens the file) over pages of noise (the schema and the
            # tables are gone): only a real integrity check notices.
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.seek(100)
                f.write(random.Random(5).randbytes(size - 100))
        self.damaged_database(scribble)


if __name__ == "__main__":
    main()
