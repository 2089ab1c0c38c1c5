"""A 5 GiB torrent (sparse: mostly zeros, random blocks at known offsets on both sides of the
2 GiB and 4 GiB marks) mounted with --on-demand from a libtorrent seeder: reads at those offsets
return exactly the source bytes, so 64-bit offsets hold through the whole read path."""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, main, mktorrent, require_fuse  # noqa: E402

GiB = 1 << 30
SIZE = 5 * GiB + 12345  # an odd tail: the last piece is short
# (offset, length) of random data blocks; everything else is a hole (zeros).
BLOCKS = [(0, 4096), (2 * GiB - 3000, 6000), (4 * GiB - 70_000, 140_000), (4 * GiB + 1_234_567, 65_536),
          (5 * GiB - 1, 9), (SIZE - 5000, 5000)]


def make_sparse(path):
    rng = random.Random(5)
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for off, n in BLOCKS:
            f.seek(off)
            f.write(rng.randbytes(n))


class LargeFileTest(unittest.TestCase):
    def setUp(self):
        require_fuse(self)

    def test_reads_beyond_4gib_return_source_bytes(self):
        with Env("large") as env:
            try:
                src = env.path("src", "big.img")
                make_sparse(src)
                torrent = mktorrent(src, env.path("big.torrent"), piece_log2=22)
                seeder = env.start_lt_seeder(torrent, os.path.dirname(src), "127.0.0.2",
                                             no_trackers=True)
                mnt = env.path("mnt", "")
                env.mount(torrent, mnt, "--on-demand", "--no-trackers", "--peer",
                          f"127.0.0.2:{seeder.port}", "--data-dir", env.path("data", ""),
                          "--state-db", env.path("state.db"), "--read-timeout", "60",
                          "--listen", "127.0.0.3:0", "--log", env.path("logs", "torfs.log"))
                path = os.path.join(mnt, "big.img")
                self.assertEqual(os.stat(path).st_size, SIZE)
                with open(src, "rb") as want, open(path, "rb", buffering=0) as got:
                    probes = BLOCKS + [(3 * GiB, 100), (4 * GiB - 1, 2), (SIZE - 1, 1)]
                    for off, n in probes:
                        # Straddle each block so its hole/data edges are read too.
                        start, length = max(0, off - 100), n + 200
                        want.seek(start)
                        expected = want.read(length)
                        got.seek(start)
                        data = b""
                        while len(data) < len(expected):
                            chunk = got.read(len(expected) - len(data))
                            if not chunk:
                                break
                            data += chunk
                        self.assertEqual(len(data), len(expected), f"short read at {start}")
                        self.assertEqual(data, expected, f"wrong bytes at offset {start}")
                    got.seek(SIZE)
                    self.assertEqual(got.read(10), b"", "read at EOF must return nothing")
                # --on-demand fetched what was read (and a little readahead), not 5 GiB.
                used = sum(os.stat(os.path.join(d, f)).st_blocks * 512
                           for d, _, fs in os.walk(env.path("data", "")) for f in fs)
                self.assertLess(used, 1 * GiB, "on-demand mount downloaded far more than was read")
            except Exception:
                env.dump_logs()
                raise


if __name__ == "__main__":
    main()
