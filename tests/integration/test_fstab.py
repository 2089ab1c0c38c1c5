"""torfs under mount(8): `mount -t fuse.torfs TORRENT DIR -o ...` and an fstab line (through
`mount --fstab FILE DIR`) run the torfs binary as /sbin/mount.fuse.torfs, against a libtorrent
seeder on loopback. The mount shows up as type fuse.torfs, its files read back byte for byte,
and `umount DIR` unmounts it and ends the torfs process. The helper link is created for the
test (only when absent) and removed afterwards, even on failure. Needs root (mount(8) runs
helpers from /sbin only) and /dev/fuse."""
import atexit
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (TORFS, Env, fuse_available, main, make_files, mktorrent,  # noqa: E402
                     wait_until)

HELPER = "/sbin/mount.fuse.torfs"
FILES = {"fs/a.bin": 1_500_000, "fs/sub/b.txt": 33_333}
PIECE_LOG2 = 16


def loud_skip(test, why):
    banner = "!" * 78
    sys.stderr.write(f"\n{banner}\n!!! SKIPPING {test}: {why}\n{banner}\n")
    raise unittest.SkipTest(why)


def remove_helper_link():
    if os.path.islink(HELPER) and os.readlink(HELPER) == TORFS:
        os.unlink(HELPER)


def mounts_of(mountpoint):
    """(source, type, options) of every /proc/mounts entry on mountpoint."""
    with open("/proc/mounts") as f:
        rows = [line.split() for line in f]
    return [(r[0], r[2], r[3]) for r in rows if r[1] == mountpoint]


def torfs_pids(mountpoint):
    """PIDs whose command line names the mountpoint (the daemonized helper)."""
    out = subprocess.run(["pgrep", "-f", mountpoint], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


class FstabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not fuse_available():
            loud_skip(cls.__name__, "/dev/fuse is absent")
        if os.geteuid() != 0:
            loud_skip(cls.__name__, "not root: mount(8) runs helpers from /sbin only as root")
        if os.path.lexists(HELPER):
            target = os.path.realpath(HELPER)
            if target != os.path.realpath(TORFS):
                loud_skip(cls.__name__, f"{HELPER} already exists (-> {target}); not replacing it")
        cls.env = Env("fstab")
        env = cls.env
        try:
            if not os.path.lexists(HELPER):
                os.symlink(TORFS, HELPER)
                atexit.register(remove_helper_link)
            cls.src = make_files(env.path("src"), FILES, seed=8)
            cls.torrent = mktorrent(os.path.join(cls.src, "fs"), env.path("fs.torrent"),
                                    PIECE_LOG2)
            cls.seeder = env.start_lt_seeder(cls.torrent, cls.src, "127.0.0.2", no_trackers=True)
            cls.seeder.wait_seeding(60)
            # mount(8) passes its environment to the helper: keep the user's config and data out.
            cls.mount_env = dict(os.environ, XDG_CONFIG_HOME=env.path("xdg-config"),
                                 XDG_DATA_HOME=env.path("xdg-data"), TORFS_NO_PROGRESS="1")
        except BaseException:
            env.dump_logs()
            env.cleanup()
            remove_helper_link()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.cleanup()
        finally:
            remove_helper_link()

    def options(self, tag):
        """torfs options, mount(8) style, for a private data dir, db and log."""
        return ",".join([
            f"data_dir={self.env.path(tag, 'data')}", f"state_db={self.env.path(tag, 'state.db')}",
            f"log={self.env.path('logs', f'torfs-{tag}.log')}",
            f"peer=127.0.0.2:{self.seeder.port}", "listen=127.0.0.1:0", "no_trackers", "no_dht",
            "no_lsd"])

    def mountpoint(self, tag):
        mp = self.env.path(tag, "mnt")
        os.makedirs(mp, exist_ok=True)
        self.env.mounts.append(mp)  # unmounted by Env.cleanup if a test fails midway
        return mp

    def run_mount(self, *args):
        r = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=120,
                           env=self.mount_env, stdin=subprocess.DEVNULL)
        return r

    def check_mounted_and_readable(self, mp):
        rows = mounts_of(mp)
        self.assertEqual(len(rows), 1, rows)
        source, fstype, opts = rows[0]
        self.assertEqual(fstype, "fuse.torfs")
        self.assertIn("ro", opts.split(","))
        for rel, size in FILES.items():
            with open(os.path.join(self.src, rel), "rb") as want, \
                    open(os.path.join(mp, rel), "rb") as got:
                data = got.read()
                self.assertEqual(len(data), size, rel)
                self.assertTrue(data == want.read(), f"{rel}: bytes differ")

    def umount_and_wait(self, mp):
        self.assertTrue(torfs_pids(mp), "no torfs process serves the mount")
        r = subprocess.run(["umount", mp], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(mounts_of(mp), [])
        wait_until(lambda: not torfs_pids(mp), 30, what="torfs to exit after umount")

    def test_mount_t_fuse_torfs_then_umount(self):
        mp = self.mountpoint("t1")
        r = self.run_mount("-t", "fuse.torfs", self.torrent, mp, "-o",
                           "ro,nosuid,allow_other," + self.options("t1"))
        if r.returncode != 0:
            self.env.dump_logs()
            self.fail(f"mount exited {r.returncode}: {r.stderr}")
        self.check_mounted_and_readable(mp)
        self.assertIn("nosuid", mounts_of(mp)[0][2].split(","))
        self.umount_and_wait(mp)

    def test_fstab_line_with_config_file(self):
        # The fstab line carries mount(8) bookkeeping and names a config file holding the rest:
        # both paths into `torfs mount` options are exercised.
        mp = self.mountpoint("t2")
        config = self.env.path("t2", "config.toml")
        with open(config, "w") as f:
            f.write("# torfs defaults for this mount\n[mount]\n"
                    f"data-dir = \"{self.env.path('t2', 'data')}\"\n"
                    f"state_db = \"{self.env.path('t2', 'state.db')}\"\n"
                    f"peer = [\"127.0.0.2:{self.seeder.port}\"]\n"
                    "listen = \"127.0.0.1:0\"\nno-trackers = true\nno-dht = true\n"
                    "no-lsd = true\n")
        fstab = self.env.path("t2", "fstab")
        with open(fstab, "w") as f:
            f.write("# test fstab\n"
                    f"{self.torrent} {mp} fuse.torfs "
                    f"ro,noauto,nofail,_netdev,x-systemd.automount,config={config},"
                    f"log={self.env.path('logs', 'torfs-t2.log')},default_permissions 0 0\n")
        r = self.run_mount("--fstab", fstab, mp)
        if r.returncode != 0:
            self.env.dump_logs()
            self.fail(f"mount --fstab exited {r.returncode}: {r.stderr}")
        self.check_mounted_and_readable(mp)
        self.assertTrue(os.path.isdir(self.env.path("t2", "data", "fs")),
                        "the data did not go where the config file said")
        self.umount_and_wait(mp)

    def test_bad_option_fails_naming_it_and_mounts_nothing(self):
        mp = self.mountpoint("t3")
        r = self.run_mount("-t", "fuse.torfs", self.torrent, mp, "-o",
                           "data_dri=/tmp/x," + self.options("t3"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("data_dri=/tmp/x", r.stderr)
        self.assertEqual(mounts_of(mp), [])

    def test_helper_fake_mode_prints_the_command(self):
        mp = self.mountpoint("t4")
        r = subprocess.run([HELPER, self.torrent, mp, "-f", "-o", "rw,on_demand,allow_other"],
                           capture_output=True, text=True, timeout=30, env=self.mount_env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"would run: torfs mount {self.torrent} {mp} --on-demand -o allow_other",
                      r.stderr)
        self.assertEqual(mounts_of(mp), [])


if __name__ == "__main__":
    main()
