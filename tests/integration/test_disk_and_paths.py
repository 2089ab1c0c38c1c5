"""Disk and path attacks.

- Disk full: the data dir on a tmpfs too full for the torrent. torfs reports a clear error once,
  keeps running and serving what it has, marks nothing complete that is not on disk, and
  completes by itself (no restart) once space is freed.
- Paths: every loadable torrent of the crafted corpus (tests/data/torrents/bad/) is mounted for
  real; a torrent with hostile paths (.., absolute, '/' inside an element) and real piece
  hashes is downloaded through a mount from a scripted seeder. Nothing appears outside the data
  dir; every name in the mount is a plain name inside it.
- Symlinks planted where torfs would create its data dir, a data file or a directory of the
  torrent are refused, never followed, with an error that says so.

Needs root (tmpfs mounts, chown of the planted links) and /dev/fuse for the mount cases."""
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evil_peer as ev  # noqa: E402
from harness import (SOURCE_DIR, TORFS, Env, lt_info_hash, main, make_files,  # noqa: E402
                     mktorrent, require_fuse, run_torfs, sha256_file, wait_until)

PIECE_LOG2 = 16
PIECE = 1 << PIECE_LOG2
NOBODY = 65534
CORPUS = os.path.join(SOURCE_DIR, "tests", "data", "torrents", "bad")
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "data"))
from make_bad_torrents import enc  # noqa: E402  (the corpus generator's bencode writer)


def snapshot(root, exclude):
    """Every path below root (lstat, no symlink following), minus the excluded subtrees."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in exclude]
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if p not in exclude:
                out.add(p)
    return out


def completed_pieces(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT piece FROM pieces")}
    finally:
        con.close()


class DiskAndPathTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (tmpfs mounts, chown)")
        self.env = Env("disk")
        self.tmpfs = []

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            self.env.dump_logs()
        # Mounts and processes first (they may hold files on the tmpfs), then the tmpfs.
        for m in reversed(self.env.mounts):
            if os.path.ismount(m):
                self.env.unmount(m, timeout=10)
            # A killed mount is dead (ENOTCONN) and not os.path.ismount: detach it anyway.
            subprocess.run(["umount", "-l", m], capture_output=True)
        for t in self.tmpfs:
            subprocess.run(["umount", "-l", t], capture_output=True)
        self.env.cleanup()

    def small_tmpfs(self, size):
        path = self.env.path("small")
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
        self.tmpfs.append(path)
        return path

    # -- disk full ----------------------------------------------------------------------------

    def test_disk_full_clear_error_nothing_false_then_recovers(self):
        env = self.env
        src = env.path("src")
        os.makedirs(src, exist_ok=True)
        size = 6 * 1024 * 1024 + 11
        make_files(src, {"big.bin": size})
        torrent = mktorrent(os.path.join(src, "big.bin"), env.path("t.torrent"),
                            piece_log2=PIECE_LOG2)
        seeder = env.start_lt_seeder(torrent, src, ip="127.0.0.2", no_trackers=True)
        small = self.small_tmpfs("16m")
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:  # leaves about 3 MiB: half the torrent fits
            f.write(b"\0" * (13 * 1024 * 1024))
        dest = os.path.join(small, "data")
        db = env.path("state", "state.db")
        proc = env.spawn([TORFS, "download", torrent, "-d", dest, "--no-trackers", "--listen",
                          "127.0.0.1:0", "--state-db", db, "--peer", f"127.0.0.2:{seeder.port}"],
                         name="torfs")
        wait_until(lambda: re.search(r"No space left on device", env.log("torfs")), 120,
                   what="the disk-full error")
        log = env.log("torfs")
        self.assertRegex(log, r"downloading paused .*retrying every 5 s")
        self.assertIsNone(proc.poll(), "torfs download gave up on a full disk")
        # Whatever is committed meanwhile was written: every marked piece reads back right.
        data = os.path.join(dest, "big.bin")
        with open(os.path.join(src, "big.bin"), "rb") as g:
            source = g.read()
        for _ in range(3):
            have = completed_pieces(db)
            self.assertLessEqual(len(have) * PIECE, 3 * 1024 * 1024)
            with open(data, "rb") as f:
                for p in sorted(have):
                    f.seek(p * PIECE)
                    self.assertEqual(f.read(PIECE), source[p * PIECE:(p + 1) * PIECE],
                                     f"piece {p} marked complete but not on disk")
            time.sleep(1)
        self.assertEqual(log.count("downloading paused"), 1, "the pause is logged once")
        # Space returns: the same process resumes and completes, no restart.
        os.unlink(filler)
        self.assertEqual(proc.wait(timeout=120), 0, env.log("torfs"))
        self.assertRegex(env.log("torfs"), r"writing works again, downloading resumed")
        self.assertEqual(hashlib.sha256(source).hexdigest(), sha256_file(data))
        self.assertEqual(len(completed_pieces(db)), (size + PIECE - 1) // PIECE)

    def test_disk_full_mount_serves_what_it_has(self):
        require_fuse(self)
        env = self.env
        src = env.path("src")
        os.makedirs(src, exist_ok=True)
        size = 6 * 1024 * 1024
        make_files(src, {"m.bin": size})
        torrent = mktorrent(os.path.join(src, "m.bin"), env.path("t.torrent"),
                            piece_log2=PIECE_LOG2)
        seeder = env.start_lt_seeder(torrent, src, ip="127.0.0.2", no_trackers=True)
        small = self.small_tmpfs("1m")
        mnt = env.path("mnt")
        proc = env.mount(torrent, mnt, "--data-dir", os.path.join(small, "data"), "--state-db",
                         env.path("state", "state.db"), "--no-trackers", "--listen", "127.0.0.1:0",
                         "--peer", f"127.0.0.2:{seeder.port}", "--read-timeout", "5",
                         foreground=True, name="torfs")
        wait_until(lambda: re.search(r"No space left on device", env.log("torfs")), 60,
                   what="the disk-full error in the log")
        self.assertIsNone(proc.poll(), "the mount died on a full disk")
        # What was written before the disk filled is committed (batched, so not at once).
        have = sorted(wait_until(lambda: completed_pieces(env.path("state", "state.db")), 30,
                                 what="pieces written before the disk filled to be committed"))
        with open(os.path.join(src, "m.bin"), "rb") as g, \
                open(os.path.join(mnt, "m.bin"), "rb") as f:
            for p in have:  # what is verified on disk is served, byte for byte
                f.seek(p * PIECE)
                g.seek(p * PIECE)
                self.assertEqual(f.read(PIECE), g.read(PIECE), f"piece {p}")
        os.listdir(mnt)  # and the mount still answers

    # -- crafted paths ------------------------------------------------------------------------

    def excluded(self, data, mnt):
        """Where torfs may legitimately write: the data dir, the mount, logs, the database."""
        return {data, mnt, self.env.logs, self.env.path("state")}

    def assert_names_inside(self, mnt):
        real = os.path.realpath(mnt)
        for dirpath, dirnames, filenames in os.walk(mnt):
            for n in dirnames + filenames:
                self.assertNotIn(n, ("", ".", ".."))
                self.assertNotIn("/", n)
                self.assertNotIn("\0", n)
                p = os.path.join(dirpath, n)
                self.assertFalse(os.path.islink(p), p)
                self.assertTrue(os.path.realpath(p).startswith(real + os.sep), p)

    def test_bad_torrent_corpus_mounted_for_real(self):
        require_fuse(self)
        env = self.env
        watch = env.path("watch")  # everything torfs could reach by climbing out of data/
        os.makedirs(watch, exist_ok=True)
        loaded = 0
        for name in sorted(os.listdir(CORPUS)):
            if not name.endswith(".torrent"):
                continue
            with self.subTest(torrent=name):
                data = os.path.join(watch, "a", "b", "data")
                mnt = os.path.join(watch, "mnt")
                os.makedirs(data, exist_ok=True)
                before = snapshot(env.tmp, self.excluded(data, mnt))
                log = f"mount-{name}"
                os.makedirs(mnt, exist_ok=True)
                env.mounts.append(mnt)
                proc = env.spawn([TORFS, "mount", "-f", os.path.join(CORPUS, name), mnt,
                                  "--data-dir", data, "--state-db", env.path("state", "state.db"),
                                  "--no-trackers", "--listen", "127.0.0.1:0", "--read-timeout",
                                  "1"], name=log)
                wait_until(lambda: os.path.ismount(mnt) or proc.poll() is not None, 30,
                           what=f"{name} to mount or fail")
                if os.path.ismount(mnt):
                    loaded += 1
                    self.assert_names_inside(mnt)
                    env.unmount(mnt)
                    self.assertEqual(proc.wait(20), 0, env.log(log))
                else:
                    self.assertNotEqual(proc.returncode, 0)
                    self.assertRegex(env.log(log), r"\S", f"{name}: refused without a message")
                self.assertEqual(snapshot(env.tmp, self.excluded(data, mnt)), before,
                                 f"{name}: something was created outside the data dir")
                for dirpath, _, filenames in os.walk(data):
                    for n in filenames:
                        p = os.path.join(dirpath, n)
                        self.assertTrue(os.path.realpath(p).startswith(data + os.sep), p)
        self.assertGreater(loaded, 5, "too few corpus torrents loaded to mean anything")

    def test_hostile_paths_with_real_data_stay_inside(self):
        require_fuse(self)
        env = self.env
        files = [(["..", "..", "escape1.txt"], 70_001), (["a", "..", "..", "escape2.txt"], 5),
                 (["", "tmp", "torfs-abs-escape.txt"], 90_000), (["x/y", "slash.txt"], 1234),
                 (["sub", "ok.txt"], 200_000), ([".", "dot.txt"], 3)]
        blobs = [hashlib.sha256(str(i).encode()).digest() * (n // 32 + 1) for i, (_, n) in
                 enumerate(files)]
        blobs = [b[:n] for b, (_, n) in zip(blobs, files)]
        stream = b"".join(blobs)
        pieces = b"".join(hashlib.sha1(stream[k:k + PIECE]).digest()
                          for k in range(0, len(stream), PIECE))
        info = {"name": "../evilroot", "piece length": PIECE, "pieces": pieces,
                "files": [{"path": p, "length": n} for p, n in files]}
        torrent = env.path("hostile.torrent")
        with open(torrent, "wb") as f:
            f.write(enc({"announce": "http://127.0.0.1:1/announce", "info": info}))
        blob_path = env.path("stream.bin")
        with open(blob_path, "wb") as f:
            f.write(stream)
        seed = ev.EvilPeer("127.0.0.3", hashlib.sha1(enc(info)).hexdigest(),
                           (len(stream) + PIECE - 1) // PIECE, ev.honest_seed,
                           piece_length=PIECE, total_size=len(stream), data_path=blob_path)
        self.addCleanup(seed.close)
        data = env.path("deep", "er", "data")
        mnt = env.path("mnt")
        os.makedirs(data, exist_ok=True)
        before = snapshot(env.tmp, self.excluded(data, mnt))
        env.mount(torrent, mnt, "--data-dir", data, "--state-db", env.path("state", "state.db"),
                  "--no-trackers", "--listen", "127.0.0.1:0", "--peer", seed.addr,
                  "--read-timeout", "60", foreground=True, name="torfs")
        self.assert_names_inside(mnt)
        seen = []
        for dirpath, _, filenames in os.walk(mnt):
            for n in filenames:
                with open(os.path.join(dirpath, n), "rb") as f:
                    seen.append(f.read())
        self.assertEqual(sorted(seen), sorted(blobs))
        env.unmount(mnt)
        self.assertEqual(snapshot(env.tmp, self.excluded(data, mnt)), before)
        self.assertFalse(os.path.exists("/tmp/torfs-abs-escape.txt"))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(env.tmp), "escape1.txt")))
        stored = []
        for dirpath, _, filenames in os.walk(data):
            for n in filenames:
                p = os.path.join(dirpath, n)
                self.assertTrue(os.path.realpath(p).startswith(data + os.sep), p)
                with open(p, "rb") as f:
                    stored.append(f.read())
        self.assertEqual(sorted(stored), sorted(blobs))

    # -- planted symlinks ---------------------------------------------------------------------

    def planted(self, kind):
        """A torrent + seeder, a victim directory with a file, and a symlink planted for kind:
        'data-dir' (the data dir itself, in a sticky world-writable dir, owned by nobody),
        'file' (the torrent's data file) or 'dir' (a directory of a multi-file torrent)."""
        env = self.env
        src = env.path("src")
        os.makedirs(src, exist_ok=True)
        make_files(src, {"t/sub/f.bin": 300_000, "t/g.bin": 1000})
        torrent = mktorrent(os.path.join(src, "t"), env.path("t.torrent"), piece_log2=PIECE_LOG2)
        seeder = env.start_lt_seeder(torrent, src, ip="127.0.0.2", no_trackers=True)
        victim = env.path("victim")
        os.makedirs(victim, exist_ok=True)
        secret = os.path.join(victim, "f.bin")
        with open(secret, "wb") as f:
            f.write(b"precious")
        shared = env.path("shared")
        os.makedirs(shared, exist_ok=True)
        os.chmod(shared, 0o1777)
        data = os.path.join(shared, "data")
        if kind == "data-dir":
            os.symlink(victim, data)
            os.lchown(data, NOBODY, NOBODY)
        elif kind == "file":
            os.makedirs(os.path.join(data, "t", "sub"))
            os.symlink(secret, os.path.join(data, "t", "sub", "f.bin"))
        else:
            os.makedirs(os.path.join(data, "t"))
            os.symlink(victim, os.path.join(data, "t", "sub"))
        return torrent, seeder, data, victim

    def assert_victim_untouched(self, victim):
        self.assertEqual(os.listdir(victim), ["f.bin"])
        with open(os.path.join(victim, "f.bin"), "rb") as f:
            self.assertEqual(f.read(), b"precious")

    def download_refused(self, kind):
        torrent, seeder, data, victim = self.planted(kind)
        proc = run_torfs("download", torrent, "-d", data, "--no-trackers", "--listen",
                         "127.0.0.1:0", "--state-db", self.env.path("state", "state.db"), "--peer",
                         f"127.0.0.2:{seeder.port}", check=False, timeout=120)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stderr, r"refusing to follow symlink", proc.stderr)
        self.assert_victim_untouched(victim)

    def test_symlink_as_data_dir_refused(self):
        self.download_refused("data-dir")

    def test_symlink_as_data_file_refused(self):
        self.download_refused("file")

    def test_symlink_as_torrent_directory_refused(self):
        self.download_refused("dir")

    def test_symlink_as_mount_data_dir_refused(self):
        require_fuse(self)
        torrent, seeder, data, victim = self.planted("data-dir")
        mnt = self.env.path("mnt")
        os.makedirs(mnt)
        self.env.mounts.append(mnt)
        proc = run_torfs("mount", "-f", torrent, mnt, "--data-dir", data, "--no-trackers",
                         "--state-db", self.env.path("state", "state.db"), "--listen",
                         "127.0.0.1:0", check=False, timeout=60)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stderr, r"refusing to follow symlink", proc.stderr)
        self.assertFalse(os.path.ismount(mnt))
        self.assert_victim_untouched(victim)

    def test_symlink_at_default_mount_data_dir_refused(self):
        require_fuse(self)
        torrent, seeder, _, victim = self.planted("file")
        xdg = self.env.path("xdg")
        base = os.path.join(xdg, "torfs", "data")
        os.makedirs(base)
        os.symlink(victim, os.path.join(base, lt_info_hash(torrent)))
        mnt = self.env.path("mnt")
        os.makedirs(mnt)
        self.env.mounts.append(mnt)
        proc = run_torfs("mount", "-f", torrent, mnt, "--no-trackers", "--state-db",
                         self.env.path("state", "state.db"), "--listen", "127.0.0.1:0", check=False,
                         timeout=60, env={"XDG_DATA_HOME": xdg})
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stderr, r"symlink", proc.stderr)
        self.assertFalse(os.path.ismount(mnt))
        self.assert_victim_untouched(victim)


if __name__ == "__main__":
    main()
