"""Shared pieces of the tools/bench-* programs: a cached 1 GiB source, timing with peak RSS
(wait4 rusage of the measured process), and a table printer. Benchmarks print figures; they
never assert on them."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

CACHE = os.environ.get("TORFS_BENCH_CACHE", "/var/tmp/torfs-bench")
MiB = 1 << 20


def big_file(size=1 << 30, name="big-1GiB.bin"):
    """A cached file of pseudo-random bytes (deterministic), created once."""
    os.makedirs(os.path.join(CACHE, "src"), exist_ok=True)
    path = os.path.join(CACHE, "src", name)
    if not os.path.exists(path) or os.path.getsize(path) != size:
        print(f"creating {path} ({size // MiB} MiB)...", flush=True)
        harness.make_files(os.path.join(CACHE, "src"), {name: size}, seed=42)
    return path


def warm(path):
    """Reads a file once so every contender starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(8 * MiB):
            pass


def vm_hwm(pid):
    """Peak RSS so far (VmHWM) of a live process, in bytes; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def timed(args, env=None, cwd=None, timeout=900, log=None):
    """Runs a command; returns (seconds, peak_rss_bytes, returncode).

    Peak RSS is the process's own VmHWM, sampled every 10 ms until it exits: wait4's ru_maxrss
    would include the memory of the forking Python interpreter, which Linux carries across exec."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    start = time.monotonic()
    proc = subprocess.Popen(list(map(str, args)), stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
    deadline = start + timeout
    peak = 0
    while True:
        peak = max(peak, vm_hwm(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, 9)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if log:
        out.close()
    return seconds, peak, proc.returncode


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


def emit(text, out_path):
    print(text)
    if out_path:
        with open(out_path, "a") as f:
            f.write(text + "\n")
