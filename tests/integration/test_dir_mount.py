"""torfs mount DIR MOUNTPOINT against real peers on loopback: a directory of .torrent and
.magnet files becomes one directory per torrent (names colliding get " (2)"), every byte reads
back as seeded by libtorrent; a torrent dropped into DIR while mounted appears and reads; a
torrent whose file is deleted leaves the mount while a reader of another torrent carries on
and a handle still open on the removed one keeps reading; garbage and duplicate files are
skipped with a message naming them."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SharedEnvTestCase, lt_info_hash, main, make_files, mktorrent,  # noqa: E402
                     require_fuse, wait_until)

PIECE_LOG2 = 16
# name -> (files, loopback address of its seeder)
TORRENTS = {
    "a": ({"same/a.bin": 1_500_001, "same/sub/b.bin": 700_000}, "127.0.0.2"),
    "b": ({"solo.bin": 3_000_000}, "127.0.0.3"),
    "c": ({"same/c.bin": 900_000, "same/d.txt": 1234}, "127.0.0.4"),
    "d": ({"late/x.bin": 1_000_000}, "127.0.0.6"),
    "e": ({"mag/m.bin": 400_000}, "127.0.0.7"),
}


def sha(data):
    return hashlib.sha256(data).hexdigest()


class DirMountTest(SharedEnvTestCase):
    ENV_NAME = "dirmount"

    @classmethod
    def set_up_env(cls, env):
        cls.src, cls.torrent, cls.peers, cls.hash = {}, {}, [], {}
        for i, (key, (files, ip)) in enumerate(TORRENTS.items()):
            src = make_files(env.path(f"src-{key}"), files, seed=10 + i)
            top = next(iter(files)).split("/")[0]
            cls.src[key] = src
            cls.torrent[key] = mktorrent(os.path.join(src, top), env.path(f"{key}.torrent"),
                                         PIECE_LOG2)
            cls.hash[key] = lt_info_hash(cls.torrent[key])
            seeder = env.start_lt_seeder(cls.torrent[key], src, ip, no_trackers=True)
            seeder.wait_seeding(60)
            cls.peers.append(f"{ip}:{seeder.port}")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        # A daemon that outlived its unmount (it is not in the Env's process list).
        out = subprocess.run(["pgrep", "-f", f"mount {cls.env.tmp}/"], capture_output=True,
                             text=True).stdout
        for pid in map(int, out.split()):
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def setUp(self):
        require_fuse(self)

    def log(self):
        return self.env.log("torfs-dir")

    def check_files(self, key, mount_dir):
        """Every file of torrent `key` reads back through `mount_dir` exactly as seeded."""
        for rel in TORRENTS[key][0]:
            inner = rel.split("/", 1)[1] if "/" in rel else rel
            r = subprocess.run(["cmp", os.path.join(self.src[key], rel),
                                os.path.join(mount_dir, inner)],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                self.env.dump_logs()
                self.fail(f"cmp {rel} in {mount_dir}: {r.stdout}{r.stderr}")

    def test_directory_mount_lifecycle(self):
        env = self.env
        watched = env.path("watched", "x")[:-2]
        os.makedirs(watched, exist_ok=True)
        for key in "abc":
            shutil.copy(self.torrent[key], os.path.join(watched, f"{key}.torrent"))
        shutil.copy(self.torrent["a"], os.path.join(watched, "z-dup.torrent"))
        with open(os.path.join(watched, "garbage.torrent"), "wb") as f:
            f.write(b"this is not bencode at all")
        with open(os.path.join(watched, "bad.magnet"), "w") as f:
            f.write("\n\nhello there\n")
        mp = env.path("mnt", "x")[:-2]
        os.makedirs(mp, exist_ok=True)
        data = env.path("data", "x")[:-2]
        args = ["--data-dir", data, "--state-db", env.path("state.db"), "--listen",
                "127.0.0.1:0", "--no-trackers", "--no-dht", "--no-lsd", "--on-demand",
                "--log", env.path("logs", "torfs-dir.log")]
        for p in self.peers:
            args += ["--peer", p]
        env.mount(watched, mp, *args, name="torfs-dir-cli")
        try:
            self.run_lifecycle(watched, mp, data)
        except BaseException:
            env.dump_logs()
            raise
        finally:
            env.unmount(mp)
        wait_until(lambda: "unmounted" in self.log(), 30, what="the daemon to exit")

    def run_lifecycle(self, watched, mp, data):
        # Three torrents; the two named "same" are told apart deterministically (file order).
        self.assertEqual(sorted(os.listdir(mp)), ["same", "same (2)", "solo.bin"])
        self.assertEqual(sorted(os.listdir(os.path.join(mp, "same"))), ["a.bin", "sub"])
        self.assertEqual(sorted(os.listdir(os.path.join(mp, "same (2)"))), ["c.bin", "d.txt"])
        self.assertEqual(os.getxattr(os.path.join(mp, "same (2)"), "user.torfs.info_hash"),
                         self.hash["c"].encode())
        self.check_files("a", os.path.join(mp, "same"))
        self.check_files("b", os.path.join(mp, "solo.bin"))
        self.check_files("c", os.path.join(mp, "same (2)"))
        # --data-dir D: each torrent's data under D/<info-hash>.
        self.assertTrue(os.path.isfile(os.path.join(data, self.hash["a"], "same", "a.bin")))
        log = self.log()
        self.assertIn("garbage.torrent", log)
        self.assertIn("bad.magnet: the first line is not a magnet: URI", log)
        self.assertRegex(log, r"z-dup\.torrent: same torrent .* as a\.torrent")
        self.assertEqual(log.count("garbage.torrent"), 1, "a bad file is reported once")

        # A fourth torrent dropped in while mounted, and a magnet.
        shutil.copy(self.torrent["d"], os.path.join(watched, "d.torrent"))
        wait_until(lambda: "late" in os.listdir(mp), 15, what="the added torrent to appear")
        self.check_files("d", os.path.join(mp, "late"))
        e_ip, e_port = self.peers[4].split(":")
        tmp = os.path.join(watched, ".e.magnet.part")
        with open(tmp, "w") as f:
            f.write(f"magnet:?xt=urn:btih:{self.hash['e']}&dn=mag&x.pe={e_ip}:{e_port}\n")
        os.rename(tmp, os.path.join(watched, "e.magnet"))  # IN_MOVED_TO
        wait_until(lambda: "mag" in os.listdir(mp), 60, what="the magnet's torrent to appear")
        self.check_files("e", os.path.join(mp, "mag"))

        # Remove "same (2)" while a reader of solo.bin is mid-file and a handle of the removed
        # torrent is still open.
        solo = os.path.join(mp, "solo.bin", "solo.bin")
        size = TORRENTS["b"][0]["solo.bin"]
        half_read, removed = threading.Event(), threading.Event()
        result = {}

        def reader():
            try:
                h = hashlib.sha256()
                with open(solo, "rb", buffering=0) as f:
                    got = 0
                    while got < size:
                        chunk = f.read(min(65536, size - got))
                        if not chunk:
                            break
                        h.update(chunk)
                        got += len(chunk)
                        if got >= size // 2 and not half_read.is_set():
                            half_read.set()
                            removed.wait(60)
                result["digest"], result["bytes"] = h.hexdigest(), got
            except OSError as e:
                result["error"] = e
            finally:
                half_read.set()

        with open(os.path.join(self.src["b"], "solo.bin"), "rb") as f:
            want_solo = sha(f.read())
        with open(os.path.join(self.src["c"], "same", "c.bin"), "rb") as f:
            want_c = f.read()
        kept = os.open(os.path.join(mp, "same (2)", "c.bin"), os.O_RDONLY)
        try:
            t = threading.Thread(target=reader)
            t.start()
            self.assertTrue(half_read.wait(60))
            os.unlink(os.path.join(watched, "c.torrent"))
            wait_until(lambda: "same (2)" not in os.listdir(mp), 15,
                       what="the removed torrent to leave the mount")
            removed.set()
            t.join(120)
            self.assertFalse(t.is_alive())
            self.assertNotIn("error", result)
            self.assertEqual(result["bytes"], size)
            self.assertEqual(result["digest"], want_solo)
            self.assertFalse(os.path.exists(os.path.join(mp, "same (2)", "c.bin")))
            # The handle opened before the removal still reads every byte.
            self.assertEqual(sha(os.pread(kept, len(want_c), 0)), sha(want_c))
        finally:
            removed.set()
            os.close(kept)
        self.assertEqual(sorted(os.listdir(mp)), ["late", "mag", "same", "solo.bin"])
        # Torrents that stayed keep reading.
        self.check_files("a", os.path.join(mp, "same"))


if __name__ == "__main__":
    main()
