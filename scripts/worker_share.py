#!/usr/bin/env python3
"""Each worker's share of a keep-alive load, for a greenlight server run with -w N.

Starts the server (its flags must include -w N and {bind}), runs `wrk -c CONNS -d SECS`
against it, and reports per worker: the keep-alive connections it holds during the run
(from `ss`, by process) and the CPU time it used (from /proc/PID/stat), each as a multiple
of the mean. Load balancing is by connection, so the first column is the share of the
requests a keep-alive load sends each worker. Environment: CONNS (wrk -c, 100), SECS (5),
ROUNDS (1), WRK (the wrk to run), THREADS (wrk -t, 2).

    cargo build --release --examples
    python3 scripts/worker_share.py 'target/release/examples/hello --bind {bind} -w 4'
    CONNS=400 SECS=10 ROUNDS=3 python3 scripts/worker_share.py '...'

Requirements: wrk, python3, Linux's /proc.
"""
import os, re, shlex, socket, subprocess, sys, time

CONNS = int(os.environ.get("CONNS", "100"))
SECS = int(os.environ.get("SECS", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
WRK = os.environ.get("WRK", "wrk")
THREADS = int(os.environ.get("THREADS", "2"))
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def children(pid):
    out = []
    for q in os.listdir("/proc"):
        if q.isdigit():
            try:
                if int(open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(q))
            except OSError:
                pass
    return sorted(out)


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def conns_by_pid(port, pids):
    """Established TCP connections on local `port`, by the process that holds them (from
    /proc: the sockets' inodes in /proc/net/tcp{,6}, and each process's descriptors)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    counts = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                counts[pid] = counts.get(pid, 0) + 1
    return counts


def one_round(template):
    port = free_port()
    p = subprocess.Popen(shlex.split(template.replace("{bind}", f"127.0.0.1:{port}")),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
            except OSError:
                time.sleep(0.05)
        time.sleep(1.0)
        workers = children(p.pid)
        t0 = {w: cpu_ticks(w) for w in workers}
        wrk = subprocess.Popen([WRK, f"-t{THREADS}", f"-c{CONNS}", f"-d{SECS}s",
                                f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, text=True)
        time.sleep(SECS / 2)
        held = conns_by_pid(port, workers)
        out = wrk.communicate()[0]
        cpu = {w: cpu_ticks(w) - t0[w] for w in workers}
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        return workers, held, cpu, float(rps.group(1)) if rps else 0.0
    finally:
        p.terminate(); p.wait()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    worst = []
    for r in range(ROUNDS):
        workers, held, cpu, rps = one_round(sys.argv[1])
        n = len(workers)
        mean_c = sum(held.get(w, 0) for w in workers) / n
        mean_t = sum(cpu.values()) / n or 1
        print(f"round {r + 1}: {n} workers, {rps:.0f} req/s")
        for w in workers:
            c = held.get(w, 0)
            print(f"  worker {w}: {c:4d} connections ({c / mean_c if mean_c else 0:.2f}x mean), "
                  f"CPU {cpu[w] / CLK:.2f} s ({cpu[w] / mean_t:.2f}x mean)")
        worst.append(max(held.get(w, 0) for w in workers) / mean_c if mean_c else 0)
    print(f"largest share of connections, per round: {', '.join(f'{x:.2f}x' for x in worst)} the mean")


if __name__ == "__main__":
    main()
