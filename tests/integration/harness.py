"""Shared harness for torfs integration tests and benchmarks.

Everything runs on loopback; every counterpart gets its own address (127.0.0.2, ...). An Env
owns a temporary directory, the processes it spawned (each in its own process group) and the
mounts it made, and tears all of them down on exit even when the test failed."""
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TORFS_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
TORFS = os.environ.get("TORFS_BIN") or os.path.join(SOURCE_DIR, "build", "tools", "torfs")
LT_PEER = os.path.join(HERE, "lt_peer.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter that has `import libtorrent`


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(ip, port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((ip, port)) == 0


# opentracker serves before its own thread has read the whitelist, answering "not authorized"
# until then (and a `stopped` announce without the check). start_opentracker lists this hash
# LAST and announces it (no test uses it) until it is accepted: then every line is loaded.
WHITELIST_PROBE = hashlib.sha1(b"torfs opentracker whitelist probe").hexdigest()


def opentracker_accepts(ip, port):
    query = urllib.parse.urlencode({
        "info_hash": bytes.fromhex(WHITELIST_PROBE), "peer_id": b"-TF0001-whitelistprb",
        "port": 1, "uploaded": 0, "downloaded": 0, "left": 0, "compact": 1})
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/announce?{query}", timeout=2) as r:
            body = r.read()
    except OSError:
        return False
    return body.startswith(b"d") and b"not authorized" not in body


def free_port(ip="127.0.0.1"):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def fuse_available():
    return os.path.exists("/dev/fuse")


def require_fuse(test):
    """Skips (loudly) only when /dev/fuse is truly absent."""
    if not fuse_available():
        banner = "!" * 78
        sys.stderr.write(f"\n{banner}\n!!! /dev/fuse is ABSENT: skipping FUSE test {test.id()}\n{banner}\n")
        test.skipTest("/dev/fuse absent")


def sha256_file(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def make_files(root, spec, seed=1):
    """Creates files {relpath: size} under root with deterministic pseudo-random content."""
    for rel, size in spec.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rng = random.Random(f"{seed}:{rel}")
        with open(path, "wb") as f:
            left = size
            while left > 0:
                n = min(left, 4 << 20)
                f.write(rng.randbytes(n))
                left -= n
    return root


def assert_same_tree(test, src_root, dst_root, spec):
    """Every file of `spec` ({relative path: size}) is under dst_root with the same bytes."""
    for rel, size in spec.items():
        dst = os.path.join(dst_root, rel)
        test.assertTrue(os.path.isfile(dst), f"{rel} missing under {dst_root}")
        test.assertEqual(os.path.getsize(dst), size, rel)
        test.assertEqual(sha256_file(os.path.join(src_root, rel)), sha256_file(dst), rel)


def mktorrent(source, out, piece_log2=18, trackers=(), private=False, web_seeds=()):
    """Runs the real mktorrent; each tracker URL is its own tier."""
    args = ["mktorrent", "-l", str(piece_log2), "-o", out]
    for t in trackers:
        args += ["-a", t]
    for w in web_seeds:
        args += ["-w", w]
    if private:
        args.append("-p")
    args.append(source)
    if os.path.exists(out):
        os.unlink(out)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return out


def tracker_seeders(announce_url, info_hash_hex):
    """Seeders an HTTP tracker counts for a torrent (BEP 48 scrape); 0 when unreachable."""
    import re
    import urllib.parse
    import urllib.request
    url = (announce_url.replace("/announce", "/scrape") + "?info_hash=" +
           urllib.parse.quote(bytes.fromhex(info_hash_hex)))
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            m = re.search(rb"8:completei(\d+)e", r.read())
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def wait_tracker_seeders(announce_url, info_hash_hex, count=1, timeout=30):
    """Waits until the tracker lists `count` seeders. A client that announces before the seeder
    is listed gets no peers and, honouring the tracker's min interval, would not ask again for
    many minutes: tests wait for this before starting torfs."""
    return wait_until(lambda: tracker_seeders(announce_url, info_hash_hex) >= count, timeout,
                      interval=0.2, what=f"tracker to list {count} seeder(s)")


def lt_info_hash(torrent):
    """Info-hash (hex) according to libtorrent."""
    code = ("import libtorrent as lt, sys;"
            "print(str(lt.torrent_info(sys.argv[1]).info_hashes().v1))")
    out = subprocess.run([SYSTEM_PYTHON, "-c", code, torrent], check=True, capture_output=True,
                         text=True).stdout.strip()
    return out


def file_offsets(torrent):
    """{path: offset in the torrent byte stream} according to libtorrent."""
    code = ("import json, sys, libtorrent as lt\n"
            "fs = lt.torrent_info(sys.argv[1]).files()\n"
            "print(json.dumps({fs.file_path(i): fs.file_offset(i) for i in range(fs.num_files())}))")
    out = subprocess.run([SYSTEM_PYTHON, "-c", code, torrent], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def run_torfs(*args, check=True, timeout=300, env=None, input=None):
    """Runs the torfs binary; returns CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ, TORFS_NO_PROGRESS="1")
    if env:
        full_env.update(env)
    proc = subprocess.run([TORFS, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"torfs {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


class LtPeer:
    """A running lt_peer.py process and its status file."""

    def __init__(self, proc, status_path):
        self.proc = proc
        self.status_path = status_path

    def status(self):
        try:
            with open(self.status_path) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @property
    def port(self):
        return wait_until(lambda: (self.status() or {}).get("port"), 20, what="lt_peer port")

    def wait_seeding(self, timeout=300):
        return wait_until(lambda: (self.status() or {}).get("seeding"), timeout,
                          what="libtorrent peer to finish")


class Env:
    """Temporary directory + spawned processes + mounts, all cleaned up on exit."""

    def __init__(self, name="test"):
        self.tmp = tempfile.mkdtemp(prefix=f"torfs-{name}-")
        self.logs = os.path.join(self.tmp, "logs")
        os.makedirs(self.logs)
        self.procs = []
        self.mounts = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup(keep=exc[0] is not None and bool(os.environ.get("TORFS_KEEP_FAILED")))
        return False

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def spawn(self, args, name, env=None, cwd=None, stdin=subprocess.DEVNULL):
        """Starts a process in its own process group, output to logs/<name>.log."""
        log = open(os.path.join(self.logs, f"{name}.log"), "ab")
        full_env = dict(os.environ, TORFS_NO_PROGRESS="1")
        if env:
            full_env.update(env)
        proc = subprocess.Popen(list(map(str, args)), stdout=log, stderr=subprocess.STDOUT,
                                stdin=stdin, env=full_env, cwd=cwd, start_new_session=True)
        proc.log_path = log.name
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name):
        try:
            with open(os.path.join(self.logs, f"{name}.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def dump_logs(self):
        for name in sorted(os.listdir(self.logs)):
            text = self.log(name[:-4])
            sys.stderr.write(f"\n----- {name} (last 60 lines) -----\n")
            sys.stderr.write("\n".join(text.splitlines()[-60:]) + "\n")

    # -- counterparts -------------------------------------------------------------------------

    def start_opentracker(self, ip, info_hashes, port=None):
        """opentracker (whitelist build) on ip; returns (http_announce_url, udp_announce_url)."""
        port = port or free_port(ip)
        d = tempfile.mkdtemp(prefix="ot-", dir=self.tmp)
        os.chmod(d, 0o755)
        with open(os.path.join(d, "whitelist"), "w") as f:
            f.write("".join(h.lower() + "\n" for h in [*info_hashes, WHITELIST_PROBE]))
        os.chmod(os.path.join(d, "whitelist"), 0o644)
        self.spawn(["opentracker", "-i", ip, "-p", port, "-P", port, "-d", d, "-w", "whitelist"],
                   name=f"opentracker-{ip}", cwd=d)
        wait_until(lambda: port_open(ip, port), 10, what="opentracker to listen")
        wait_until(lambda: opentracker_accepts(ip, port), 10,
                   what="opentracker to load its whitelist")
        return f"http://{ip}:{port}/announce", f"udp://{ip}:{port}/announce"

    def start_lt_peer(self, torrent, save, ip, mode="seed", peers=(), upload_limit=0,
                      download_limit=0, port=0, no_trackers=False, name=None):
        name = name or f"lt-{mode}-{ip}"
        status = os.path.join(self.tmp, f"{name}.status.json")
        args = [SYSTEM_PYTHON, LT_PEER, "--torrent", torrent, "--save", save, "--ip", ip,
                "--mode", mode, "--status", status, "--port", port,
                "--upload-limit", upload_limit, "--download-limit", download_limit]
        for p in peers:
            args += ["--peer", p]
        if no_trackers:
            args.append("--no-trackers")
        peer = LtPeer(self.spawn(args, name=name), status)
        peer.port  # waits until it listens
        return peer

    def start_lt_seeder(self, torrent, data_dir, ip="127.0.0.2", **kw):
        return self.start_lt_peer(torrent, data_dir, ip, mode="seed", **kw)

    def start_aria2_seeder(self, torrent, data_dir, ip="127.0.0.3", port=None):
        """aria2c seeding already-complete data from data_dir; returns its listen port."""
        port = port or free_port(ip)
        self.spawn(["aria2c", "--seed-ratio=0.0", "--check-integrity=true",
                    "--bt-seed-unverified=false", f"--listen-port={port}", "--enable-dht=false",
                    "--bt-enable-lpd=false", "--enable-peer-exchange=false",
                    f"--interface={ip}", "--bt-require-crypto=false", "--bt-min-crypto-level=plain",
                    "--console-log-level=warn", "--summary-interval=0",
                    "-d", data_dir, torrent], name=f"aria2-seed-{ip}")
        wait_until(lambda: port_open(ip, port), 60, what="aria2c seeder to listen")
        return port

    def mount(self, source, mountpoint, *extra, foreground=False, name="mount"):
        """torfs mount (daemonized unless foreground). Returns the Popen for foreground mounts."""
        os.makedirs(mountpoint, exist_ok=True)
        self.mounts.append(mountpoint)
        if foreground:
            proc = self.spawn([TORFS, "mount", "-f", source, mountpoint, *extra], name=name)
            wait_until(lambda: os.path.ismount(mountpoint) or proc.poll() is not None, 60,
                       what="mount to appear")
            if proc.poll() is not None:
                raise AssertionError(f"torfs mount exited {proc.returncode}:\n{self.log(name)}")
            return proc
        run_torfs("mount", source, mountpoint, *extra, timeout=120)
        if not os.path.ismount(mountpoint):
            raise AssertionError(f"{mountpoint} is not a mount point after torfs mount returned")
        return None

    # -- teardown -----------------------------------------------------------------------------

    def unmount(self, mountpoint, timeout=20):
        subprocess.run(["fusermount3", "-u", mountpoint], capture_output=True)
        try:
            wait_until(lambda: not os.path.ismount(mountpoint), timeout, what="unmount")
        except TimeoutError:
            subprocess.run(["fusermount3", "-uz", mountpoint], capture_output=True)
            subprocess.run(["umount", "-l", mountpoint], capture_output=True)

    def cleanup(self, keep=False):
        for m in reversed(self.mounts):
            if os.path.ismount(m):
                self.unmount(m, timeout=10)
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        for m in self.mounts:
            if os.path.ismount(m):
                subprocess.run(["umount", "-l", m], capture_output=True)
        if keep:
            sys.stderr.write(f"keeping {self.tmp} for inspection\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def tear_down_env(test, env, dead_mounts=False):
    """tearDown of a test that owns `env`: dumps the logs if the test failed, then cleans up.
    dead_mounts: also lazily detaches every mount point afterwards, for tests that kill torfs
    (a dead FUSE mount is not os.path.ismount, so cleanup() leaves it)."""
    outcome = getattr(test, "_outcome", None)
    if outcome is not None and not getattr(outcome, "success", True):
        env.dump_logs()
    env.cleanup()
    if dead_mounts:
        for m in env.mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)


class SharedEnvTestCase(unittest.TestCase):
    """Tests that share one Env (seeders, trackers, torrents) built once per class. Subclasses
    set ENV_NAME and implement the classmethod set_up_env(env); a failure while setting up
    dumps the logs and cleans up before it propagates."""
    ENV_NAME = "shared"

    @classmethod
    def set_up_env(cls, env):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.env = Env(cls.ENV_NAME)
        try:
            cls.set_up_env(cls.env)
        except BaseException:
            cls.env.dump_logs()
            cls.env.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.env.cleanup()


def main():
    """unittest entry point used by every test_*.py: verbose, exit status = result."""
    unittest.main(verbosity=2)
