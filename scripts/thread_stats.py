#!/usr/bin/env python3
"""What each OS thread of a server does under a keep-alive load, side by side.

For telling where one process with many worker threads loses against as many processes:
each server named on the command line starts on SERVER_CPUS (`taskset`), gets a 1 s
warm-up, then `wrk -c CONNS -d DUR` from WRK_CPUS; meanwhile every thread of its process
tree is read from /proc before and after: CPU time, migrations between CPUs
(`se.nr_migrations` in /proc/TID/sched, where the kernel has it) and context switches,
voluntary (it waited: an empty epoll, a lock) and involuntary (preempted). Printed per
server: requests/s, CPU µs per request, migrations and switches per 1,000 requests, and
each busy thread's share of the CPU (a worker thread that idles while others are full
shows as a low share).

A server whose name ends in `+pin` has each of its threads pinned to one CPU of
SERVER_CPUS (round robin, after the warm-up, with sched_setaffinity on the thread ids):
`may` pins its workers by default and greenlight does not (several worker processes would
all pin to the same CPUs), so a pinned and an unpinned run of one command, side by side,
say what pinning is worth.

    cargo build --release --examples
    SERVER_CPUS=0 WRK_CPUS=1 WRK_THREADS=1 python3 scripts/thread_stats.py \\
        gl='target/release/examples/hello --bind {bind} --threads 1' \\
        gl+pin='target/release/examples/hello --bind {bind} --threads 1'
    # on 16 cores: SERVER_CPUS=0-7 WRK_CPUS=8-15 WRK_THREADS=8, --threads 8 and -w 8

Environment: DUR (seconds, 5), CONNS (256), WRK (wrk), WRK_THREADS (1), SERVER_CPUS (0),
WRK_CPUS (1). Requires wrk, taskset and Linux's /proc; installs nothing.
"""
import os
import re
import shlex
import socket
import subprocess
import sys
import time

DUR = int(os.environ.get("DUR", "5"))
CONNS = int(os.environ.get("CONNS", "256"))
WRK = os.environ.get("WRK", "wrk")
WRK_THREADS = os.environ.get("WRK_THREADS", "1")
SERVER_CPUS = os.environ.get("SERVER_CPUS", "0")
WRK_CPUS = os.environ.get("WRK_CPUS", "1")
CLK = os.sysconf("SC_CLK_TCK")


def cpu_list(spec):
    """`0-3,8` -> [0, 1, 2, 3, 8]."""
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tree(pid):
    """`pid` and its descendants."""
    out = [pid]
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for k in kids.stdout.split():
        out += tree(int(k))
    return out


def threads(pids):
    """Every thread of `pids`: {(pid, tid): comm}."""
    out = {}
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
                out[(pid, int(tid))] = comm
        except OSError:
            pass
    return out


def sample(pid, tid):
    """(CPU ticks, migrations or None, voluntary switches, involuntary switches)."""
    base = f"/proc/{pid}/task/{tid}"
    try:
        f = open(f"{base}/stat").read().rsplit(")", 1)[1].split()
        ticks = int(f[11]) + int(f[12])
        status = open(f"{base}/status").read()
        vol = int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", status).group(1))
        invol = int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", status).group(1))
    except (OSError, AttributeError):
        return None
    migrations = None
    try:
        m = re.search(r"se\.nr_migrations\s+:\s+(\d+)", open(f"{base}/sched").read())
        migrations = int(m.group(1)) if m else None
    except OSError:
        pass
    return ticks, migrations, vol, invol


def wait_listening(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wrk(port, secs):
    cmd = ["taskset", "-c", WRK_CPUS, WRK, f"-t{WRK_THREADS}", f"-c{CONNS}", f"-d{secs}s",
           f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    return (float(rps.group(1)) if rps else 0.0), (int(total.group(1)) if total else 0)


def pin(ths):
    """Pins each thread to one CPU of SERVER_CPUS, round robin."""
    cpus = cpu_list(SERVER_CPUS)
    for i, (_, tid) in enumerate(sorted(ths)):
        try:
            os.sched_setaffinity(tid, {cpus[i % len(cpus)]})
        except OSError:
            pass


def measure(name, template):
    port = free_port()
    cmd = ["taskset", "-c", SERVER_CPUS] + shlex.split(template.replace("{bind}", f"127.0.0.1:{port}"))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_listening(port):
            return f"{name}: did not listen"
        wrk(port, 1)
        ths = threads(tree(proc.pid))
        if name.endswith("+pin"):
            pin(ths)
        before = {t: sample(*t) for t in ths}
        rps, total = wrk(port, DUR)
        after = {t: sample(*t) for t in ths}
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rows = []
    for t, comm in ths.items():
        a, b = before.get(t), after.get(t)
        if a and b:
            mig = None if a[1] is None or b[1] is None else b[1] - a[1]
            rows.append((b[0] - a[0], mig, b[2] - a[2], b[3] - a[3], comm))
    ticks = sum(r[0] for r in rows)
    per_k = 1000 / max(total, 1)
    migs = [r[1] for r in rows if r[1] is not None]
    busy = sorted((r[0] for r in rows if r[0] * 20 >= ticks), reverse=True)
    shares = " ".join(f"{t / ticks:.2f}" for t in busy) if ticks else "-"
    return (f"{name:>16}: {rps:>10.0f} req/s  CPU {ticks / CLK * 1e6 / max(total, 1):6.2f} us/req  "
            f"per 1,000 requests: migrations {sum(migs) * per_k if migs else float('nan'):6.2f}, "
            f"switches {sum(r[2] for r in rows) * per_k:7.1f} voluntary "
            f"{sum(r[3] for r in rows) * per_k:6.2f} involuntary; "
            f"{len(rows)} threads, CPU shares of the busy ones: {shares}")


def main():
    pairs = [a.split("=", 1) for a in sys.argv[1:]]
    if not pairs or any(len(p) != 2 for p in pairs):
        sys.exit(__doc__)
    for name, template in pairs:
        print(measure(name, template), flush=True)


if __name__ == "__main__":
    main()
