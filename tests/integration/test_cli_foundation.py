"""torfs info / create / verify against the real mktorrent and libtorrent."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SYSTEM_PYTHON, TORFS, Env, lt_info_hash, make_files,  # noqa: E402
                     mktorrent, run_torfs)

TRACKER = "http://127.0.0.2:6969/announce"

MULTI = {  # nested dirs, a zero-length file, a hidden file, names that sort by strcmp
    "a.txt": 70000, "a/b.bin": 100000, "a/c/deep.bin": 65536, "B.bin": 1, ".hidden": 12,
    "empty": 0, "z z.dat": 200001,
}


def lt_files(torrent):
    """[(path, size)] and the name according to libtorrent."""
    code = ("import libtorrent as lt, sys, json; ti = lt.torrent_info(sys.argv[1]); fs = ti.files();"
            "print(json.dumps({'name': ti.name(), 'files': [[fs.file_path(i), fs.file_size(i)]"
            " for i in range(fs.num_files())], 'pieces': ti.num_pieces(),"
            " 'piece_length': ti.piece_length(), 'private': ti.priv()}))")
    out = subprocess.run([SYSTEM_PYTHON, "-c", code, torrent], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def torfs_info(torrent):
    return json.loads(run_torfs("info", "--json", torrent).stdout)


class InfoTest(unittest.TestCase):
    def check_info(self, env, source, **mk):
        out = env.path(f"mk-{len(os.listdir(env.tmp))}.torrent")
        mktorrent(source, out, **mk)
        info = torfs_info(out)
        lt = lt_files(out)
        self.assertEqual(info["info_hash"], lt_info_hash(out))
        self.assertRegex(info["info_hash"], r"^[0-9a-f]{40}$")
        self.assertEqual(info["name"], lt["name"])
        self.assertEqual(info["num_pieces"], lt["pieces"])
        self.assertEqual(info["piece_length"], lt["piece_length"])
        self.assertEqual(info["private"], bool(mk.get("private")))
        self.assertEqual(info["private"], lt["private"])
        self.assertEqual([[f["path"], f["size"]] for f in info["files"]], lt["files"])
        self.assertEqual(info["total_size"], sum(s for _, s in lt["files"]))
        self.assertEqual(info["trackers"], list(mk.get("trackers", [])))
        self.assertEqual(info["tiers"], [[t] for t in mk.get("trackers", [])])
        return info

    def test_single_and_multi_file_from_mktorrent(self):
        with Env("info") as env:
            single = make_files(env.path("single"), {"movie.mkv": 1_000_003})
            multi = make_files(env.path("multi"), MULTI)
            for private in (False, True):
                self.check_info(env, os.path.join(single, "movie.mkv"), piece_log2=16,
                                trackers=[TRACKER], private=private)
                self.check_info(env, multi, piece_log2=15, trackers=[TRACKER, TRACKER + "2"],
                                private=private)

    def test_text_output(self):
        with Env("info-text") as env:
            multi = make_files(env.path("multi"), MULTI)
            t = mktorrent(multi, env.path("m.torrent"), piece_log2=15, trackers=[TRACKER],
                          web_seeds=["http://127.0.0.3/ws/"])
            out = run_torfs("info", t).stdout
            self.assertIn(lt_info_hash(t), out)
            self.assertIn("multi/a/c/deep.bin", out)
            self.assertIn(TRACKER, out)
            self.assertIn("http://127.0.0.3/ws/", out)
            self.assertIn(str(sum(MULTI.values())), out)


    def test_json_is_valid_for_any_bytes(self):
        with Env("info-json") as env:
            src = make_files(env.path("d"), {"f": 100})
            t = env.path("t.torrent")
            comment = b"\xff\x01q\"\\ \xe2\x82\xac \xed\xa0\x80 \xc0\xaf \x7f"
            subprocess.run([os.fsencode(TORFS), b"create", os.fsencode(src), b"-o",
                            os.fsencode(t), b"--comment", comment], check=True,
                           capture_output=True, env=dict(os.environ, TORFS_NO_PROGRESS="1"))
            raw = run_torfs("info", "--json", t).stdout
            # invalid bytes (lone 0xff, a surrogate, an overlong '/') become U+FFFD, one per byte
            self.assertEqual(json.loads(raw)["comment"],
                             "\ufffd\x01q\"\\ \u20ac \ufffd\ufffd\ufffd \ufffd\ufffd \x7f")


class CreateTest(unittest.TestCase):
    def compare(self, env, source, torfs_args, mk_args):
        n = len(os.listdir(env.tmp))
        mine, theirs = env.path(f"torfs-{n}.torrent"), env.path(f"mk-{n}.torrent")
        out = run_torfs("create", source, "-o", mine, *torfs_args).stdout
        mktorrent(source, theirs, **mk_args)
        lt_hash = lt_info_hash(mine)
        self.assertEqual(lt_hash, lt_info_hash(theirs), f"torfs {torfs_args} vs mktorrent {mk_args}")
        self.assertIn(f"info-hash: {lt_hash}", out)
        self.assertEqual(lt_files(mine), lt_files(theirs))
        return mine

    def test_same_info_hash_as_mktorrent(self):
        with Env("create") as env:
            single = os.path.join(make_files(env.path("s"), {"file.iso": 3_000_017}), "file.iso")
            multi = make_files(env.path("multi"), MULTI)
            for source in (single, multi):
                self.compare(env, source, ["-t", TRACKER, "--piece-size", "64K"],
                             dict(piece_log2=16, trackers=[TRACKER]))
                self.compare(env, source, ["-t", TRACKER, "--piece-size", "32768", "--private"],
                             dict(piece_log2=15, trackers=[TRACKER], private=True))
                self.compare(env, source + "/" if source == multi else source,
                             ["-t", TRACKER, "-t", "udp://127.0.0.2:1/x", "--piece-size", "1M",
                              "-w", "http://127.0.0.3/"],
                             dict(piece_log2=20, trackers=[TRACKER, "udp://127.0.0.2:1/x"],
                                  web_seeds=["http://127.0.0.3/"]))
            # One -t with commas is one tier of two URLs, as mktorrent -a.
            self.compare(env, multi, ["-t", f"{TRACKER},{TRACKER}2", "--piece-size", "32K",
                                      "--threads", "1"],
                         dict(piece_log2=15, trackers=[f"{TRACKER},{TRACKER}2"]))

    def test_tiers_and_web_seeds_are_written(self):
        with Env("create-tiers") as env:
            multi = make_files(env.path("multi"), MULTI)
            t = env.path("t.torrent")
            run_torfs("create", multi, "-o", t, "-t", "http://a/1,http://a/2", "-t", "http://b/1",
                      "-w", "http://w/1", "-w", "http://w/2", "--comment", "hi")
            info = torfs_info(t)
            self.assertEqual(info["tiers"], [["http://a/1", "http://a/2"], ["http://b/1"]])
            self.assertEqual(info["web_seeds"], ["http://w/1", "http://w/2"])
            self.assertEqual(info["comment"], "hi")
            self.assertTrue(info["created_by"].startswith("torfs/"))
            # automatic piece size: a power of two, at least 16 KiB
            pl = info["piece_length"]
            self.assertTrue(pl >= 16384 and pl & (pl - 1) == 0)

    def test_refuses_overwrite_without_force(self):
        with Env("create-force") as env:
            src = make_files(env.path("d"), {"f": 1000})
            t = env.path("t.torrent")
            with open(t, "w") as f:
                f.write("keep me")
            p = run_torfs("create", src, "-o", t, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("already exists", p.stderr)
            with open(t) as f:
                self.assertEqual(f.read(), "keep me")
            run_torfs("create", src, "-o", t, "--force")
            self.assertEqual(torfs_info(t)["total_size"], 1000)
            self.assertEqual([n for n in os.listdir(env.tmp) if n.startswith(".t.torrent")], [])

    def test_bad_arguments(self):
        with Env("create-bad") as env:
            src = make_files(env.path("d"), {"f": 1000})
            for args, needle in ((["--piece-size", "1000"], "power of two"),
                                 (["--piece-size", "12X"], "suffix"),
                                 (["-t", "a,,b"], "empty")):
                p = run_torfs("create", src, "-o", env.path("x.torrent"), *args, check=False)
                self.assertNotEqual(p.returncode, 0, args)
                self.assertIn(needle, p.stderr, args)
            p = run_torfs("create", env.path("nope"), "-o", env.path("x.torrent"), check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("nope", p.stderr)
            self.assertFalse(os.path.exists(env.path("x.torrent")))


class VerifyTest(unittest.TestCase):
    def test_good_corrupt_and_missing(self):
        with Env("verify") as env:
            data = env.path("data")
            multi = make_files(os.path.join(data, "multi"), MULTI)
            t = env.path("t.torrent")
            run_torfs("create", multi, "-o", t, "--piece-size", "16K")
            good = run_torfs("verify", t, data)
            self.assertIn("0 bad, 0 missing", good.stdout)
            js = json.loads(run_torfs("verify", "--json", t, data, "--threads", "3").stdout)
            self.assertTrue(js["complete"])
            self.assertEqual(js["good"], js["num_pieces"])

            # Corrupt one byte in the middle of a/b.bin: offset in the stream decides the piece.
            info = torfs_info(t)
            entry = next(f for f in info["files"] if f["path"] == "multi/a/b.bin")
            with open(os.path.join(multi, "a/b.bin"), "r+b") as f:
                f.seek(50000)
                b = f.read(1)
                f.seek(50000)
                f.write(bytes([b[0] ^ 0xFF]))
            piece = (entry["offset"] + 50000) // info["piece_length"]
            bad = run_torfs("verify", t, data, check=False)
            self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
            self.assertIn("1 bad", bad.stdout)
            self.assertRegex(bad.stdout, rf"bad pieces: {piece}\b")
            self.assertIn("multi/a/b.bin", bad.stdout)
            js = json.loads(run_torfs("verify", "--json", t, data, check=False).stdout)
            self.assertEqual(js["bad_pieces"], [piece])
            self.assertFalse(js["complete"])

            os.unlink(os.path.join(multi, "z z.dat"))
            gone = run_torfs("verify", t, data, check=False)
            self.assertEqual(gone.returncode, 1)
            self.assertRegex(gone.stdout, r"multi/z z\.dat \(file missing\)")
            self.assertRegex(gone.stdout, r"[1-9]\d* missing")

    def test_usage_and_load_errors_exit_2(self):
        with Env("verify-errors") as env:
            src = make_files(env.path("d"), {"f": 1000})
            t = env.path("t.torrent")
            run_torfs("create", src, "-o", t)
            p = run_torfs("verify", t, env.path("no-such-dir"), check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("no-such-dir", p.stderr)
            p = run_torfs("verify", env.path("missing.torrent"), env.tmp, check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("missing.torrent", p.stderr)


class ErrorsTest(unittest.TestCase):
    def test_broken_torrents_say_what_is_wrong(self):
        with Env("errors") as env:
            src = make_files(env.path("d"), {"f": 50000})
            t = env.path("good.torrent")
            run_torfs("create", src, "-o", t)
            with open(t, "rb") as f:
                good = f.read()
            cases = {
                "truncated.torrent": good[: len(good) // 2],
                "garbage.torrent": b"this is not bencode",
                "empty.torrent": b"",
                "nopieces.torrent": good.replace(b"6:pieces", b"6:piecez"),
            }
            for name, content in cases.items():
                path = env.path(name)
                with open(path, "wb") as f:
                    f.write(content)
                for cmd in (["info", path], ["verify", path, env.tmp]):
                    p = run_torfs(*cmd, check=False)
                    self.assertNotEqual(p.returncode, 0, f"{cmd}: {p.stdout}")
                    self.assertTrue(p.stderr.startswith("torfs: "), p.stderr)
                    self.assertIn(name, p.stderr)
                    self.assertGreater(len(p.stderr.strip()), len(f"torfs: {path}: ") + 5,
                                       p.stderr)
            p = run_torfs("info", env.path("absent.torrent"), check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("absent.torrent", p.stderr)

    def test_help(self):
        for cmd in ("info", "create", "verify"):
            p = run_torfs(cmd, "--help")
            self.assertIn(cmd, p.stdout)
            self.assertIn("--json" if cmd != "create" else "--piece-size", p.stdout)
        self.assertIn("create", run_torfs("--help").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
