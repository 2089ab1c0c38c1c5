"""torfs status against a live mount: a rate-limited libtorrent seeder serves a torrent (so the
download is still running, and the peer connected, while the test looks); after part of a file
is read, `torfs status MNT --json` reports progress consistent with the
bytes read (per file and in the piece map) and the connected peer; `torfs status` without a
mountpoint lists the mount; text, --watch and --png work; a directory that is not a torfs mount
fails with a clear message; after unmount the control socket is gone."""
import json
import os
import signal
import stat
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TORFS, SharedEnvTestCase, file_offsets, main, make_files,  # noqa: E402
                     mktorrent, require_fuse, run_torfs, wait_until)

PIECE_LOG2 = 16  # 64 KiB pieces
PIECE = 1 << PIECE_LOG2
FILES = {"s/big.bin": 8_000_000, "s/small.txt": 1000}
SEED_RATE = 256 * 1024  # bytes/s: the whole torrent takes ~30 s, the test a few
READ = 300_000  # bytes read from the start of s/big.bin


def have_piece(torrent_status, piece):
    bits = bytes.fromhex(torrent_status["pieces"])
    return bool(bits[piece // 8] >> (7 - piece % 8) & 1)


def check_png(test, path):
    """Signature, chunk CRCs, IHDR, and that the IDAT stream inflates to the right size."""
    with open(path, "rb") as f:
        data = f.read()
    test.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
    at, chunks = 8, []
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        crc = int.from_bytes(data[at + 8 + length:at + 12 + length], "big")
        test.assertEqual(zlib.crc32(kind + body), crc, f"CRC of {kind}")
        chunks.append((kind, body))
        at += 12 + length
    test.assertEqual([k for k, _ in chunks], [b"IHDR", b"IDAT", b"IEND"])
    width = int.from_bytes(chunks[0][1][:4], "big")
    height = int.from_bytes(chunks[0][1][4:8], "big")
    test.assertEqual(len(zlib.decompress(chunks[1][1])), (width * 3 + 1) * height)
    out = subprocess.run(["file", path], capture_output=True, text=True).stdout
    test.assertIn("PNG image data", out)
    return width, height


class StatusTest(SharedEnvTestCase):
    ENV_NAME = "status"

    @classmethod
    def set_up_env(cls, env):
        # Our own runtime dir, so the listing sees only this test's mounts.
        cls.runtime = env.path("runtime")
        os.makedirs(cls.runtime, mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = cls.runtime
        cls.src = make_files(env.path("src"), FILES, seed=8)
        cls.torrent = mktorrent(os.path.join(cls.src, "s"), env.path("s.torrent"), PIECE_LOG2)
        cls.seeder = env.start_lt_seeder(cls.torrent, cls.src, "127.0.0.2", no_trackers=True,
                                         upload_limit=SEED_RATE)
        cls.seeder.wait_seeding(60)

    def setUp(self):
        require_fuse(self)

    def status_json(self, *args):
        return json.loads(run_torfs("status", *args, "--json").stdout)

    def test_status_of_a_live_mount(self):
        env = self.env
        mp = env.path("m", "mnt")
        os.makedirs(mp)
        env.mount(self.torrent, mp, "--no-trackers", "--peer",
                  f"127.0.0.2:{self.seeder.port}", "--data-dir", env.path("m", "data"),
                  "--state-db", env.path("m", "state.db"), "--listen", "127.0.0.1:0",
                  "--log", env.path("logs", "torfs-m.log"), name="torfs-m")
        control_dir = os.path.join(self.runtime, "torfs")
        try:
            self.assertEqual(stat.S_IMODE(os.stat(control_dir).st_mode), 0o700)
            sockets = os.listdir(control_dir)
            self.assertEqual(len(sockets), 1, sockets)
            sock = os.path.join(control_dir, sockets[0])
            self.assertTrue(stat.S_ISSOCK(os.lstat(sock).st_mode))
            self.assertEqual(stat.S_IMODE(os.lstat(sock).st_mode), 0o600)

            with open(os.path.join(mp, "s/big.bin"), "rb") as f, \
                    open(os.path.join(self.src, "s/big.bin"), "rb") as want:
                self.assertEqual(f.read(READ), want.read(READ))

            doc = wait_until(lambda: (lambda d: d if d["torrents"][0]["peers"] >= 1 else None)(
                self.status_json(mp)), 30, what="status to show the seeder connected")
            self.assertEqual(doc["version"], 1)
            self.assertEqual(doc["mountpoint"], os.path.realpath(mp))
            self.assertGreater(doc["listen_port"], 0)
            self.assertEqual(len(doc["torrents"]), 1)
            t = doc["torrents"][0]
            self.assertEqual(t["name"], "s")
            self.assertEqual(t["total_bytes"], sum(FILES.values()))
            self.assertEqual(t["piece_length"], PIECE)
            files = {f["path"]: f for f in t["files"]}
            self.assertEqual(set(files), set(FILES))
            big = files["s/big.bin"]
            self.assertEqual(big["size"], FILES["s/big.bin"])
            self.assertGreaterEqual(big["have_bytes"], READ)
            self.assertAlmostEqual(big["progress"], big["have_bytes"] / big["size"], places=6)
            self.assertGreaterEqual(t["have_bytes"], READ)
            offset = file_offsets(self.torrent)["s/big.bin"]
            first, last = offset // PIECE, (offset + READ - 1) // PIECE
            for p in range(first, last + 1):
                self.assertTrue(have_piece(t, p), f"piece {p} was read but is not in the map")
            held = sum(have_piece(t, p) for p in range(t["pieces_total"]))
            self.assertEqual(held, t["pieces_have"])
            self.assertGreaterEqual(t["pieces_have"] * PIECE, t["have_bytes"])
            self.assertGreaterEqual(t["downloaded"], t["have_bytes"])
            self.assertGreaterEqual(t["total_downloaded"], t["downloaded"])
            self.assertIsNotNone(t["ratio"])
            self.assertEqual(len(t["info_hash"]), 40)

            # Without a mountpoint: every mount of ours.
            listing = self.status_json()
            self.assertEqual([m["mountpoint"] for m in listing["mounts"]],
                             [os.path.realpath(mp)])

            # Plain text (stdout is a pipe): no escapes, the file and the piece map.
            text = run_torfs("status", mp).stdout
            self.assertNotIn("\x1b", text)
            self.assertIn("s/big.bin", text)
            self.assertIn("pieces ", text)
            self.assertIn("#", text)

            png = env.path("map.png")
            run_torfs("status", mp, "--png", png)
            width, height = check_png(self, png)
            self.assertGreater(width * height, 0)

            # --watch --json: one document per line until SIGINT.
            watch = subprocess.Popen([TORFS, "status", mp, "--watch", "--json", "--interval",
                                      "0.2"], stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
            try:
                lines = [watch.stdout.readline() for _ in range(3)]
                for line in lines:
                    self.assertEqual(json.loads(line)["mountpoint"], os.path.realpath(mp))
                watch.send_signal(signal.SIGINT)
                self.assertEqual(watch.wait(timeout=10), 0)
            finally:
                if watch.poll() is None:
                    os.killpg(watch.pid, signal.SIGKILL)
                    watch.wait()
                watch.stdout.close()
        except BaseException:
            env.dump_logs()
            raise
        finally:
            env.unmount(mp)
        wait_until(lambda: not os.listdir(control_dir), 30,
                   what="the control socket to be removed after unmount")
        r = run_torfs("status", mp, check=False)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("no torfs mount at", r.stderr)
        self.assertEqual(self.status_json()["mounts"], [])

    def test_not_a_mount(self):
        plain = self.env.path("plain-dir")
        os.makedirs(plain, exist_ok=True)
        r = run_torfs("status", plain, check=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn(f"no torfs mount at {plain}", r.stderr)
        r = run_torfs("status", self.env.path("does", "not", "exist"), check=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn("no torfs mount at", r.stderr)
        r = run_torfs("status", plain, "--watch", "--interval", "0", check=False)
        self.assertEqual(r.returncode, 2)

    def test_unsafe_runtime_dir_is_refused(self):
        evil = self.env.path("evil-runtime")
        os.makedirs(evil, mode=0o700)
        target = self.env.path("elsewhere")
        os.makedirs(target, mode=0o700)
        os.symlink(target, os.path.join(evil, "torfs"))
        r = run_torfs("status", "--json", check=False, env={"XDG_RUNTIME_DIR": evil})
        self.assertEqual(r.returncode, 1)
        self.assertIn("symlink", r.stderr)


if __name__ == "__main__":
    main()
