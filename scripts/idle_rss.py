#!/usr/bin/env python3
"""RSS per idle keep-alive connection, side by side, of whole process trees.

Each server starts on a free port (pinned to CPU 0 when `taskset` exists), serves 200
warm-up connections, then N keep-alive connections that each send one request, read the
answer and stay open. The VmRSS of the server's process tree (a greenlight master and its
workers included) is read before and WAIT seconds after the last answer: (after - before)
/ N is the figure. greenlight's idle connections hibernate after half a second (their green
thread and buffers given back), and its idle watcher trims the heap at most once a second,
so WAIT (default 2.5 s) covers both.

    cargo build --release --examples
    CARGO_TARGET_DIR=target/bench-baselines cargo build --release \\
        --manifest-path ../shared/bench/baselines/Cargo.toml
    B=target/bench-baselines/release
    python3 scripts/idle_rss.py 5000 greenlight="target/release/examples/hello --bind {bind} \\
        --threads 1 --keep-alive 300 --worker-connections 20000" \\
        hyper="$B/hyper_hello {bind}" may_minihttp="$B/may_minihttp_hello {bind}"

The client needs a soft open-file limit above N + 300 (it raises its own to the hard limit).
"""
import os, resource, shlex, shutil, socket, subprocess, sys, time

WAIT = float(os.environ.get("WAIT", "2.5"))
REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def tree_rss_kib(root):
    children = {}
    for q in os.listdir("/proc"):
        if q.isdigit():
            try:
                ppid = int(open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(q))
            except OSError:
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def connect_many(port, n):
    socks, ok = [], 0
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port)); s.sendall(REQ); socks.append(s)
        if (i + 1) % 500 == 0 or i + 1 == n:
            for t in socks[len(socks) - ((i % 500) + 1):]:
                t.settimeout(10)
                ok += t.recv(65536).startswith(b"HTTP/1.1 200")
    return socks, ok


def measure(name, template, n):
    port = free_port()
    cmd = shlex.split(template.replace("{bind}", f"127.0.0.1:{port}"))
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close(); break
            except OSError:
                time.sleep(0.05)
        warm, _ = connect_many(port, 200)
        for s in warm:
            s.close()
        time.sleep(WAIT)
        before = tree_rss_kib(proc.pid)
        socks, ok = connect_many(port, n)
        time.sleep(WAIT)
        after = tree_rss_kib(proc.pid)
        for s in socks:
            s.close()
        per = (after - before) * 1024 / n
        print(f"{name:>14}: {before} KiB -> {after} KiB with {n} idle: {per:7.0f} B/conn "
              f"({ok}/{n} answered)", flush=True)
        return per
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill(); proc.wait()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = {}
    for arg in sys.argv[2:]:
        name, template = arg.split("=", 1)
        results[name] = measure(name, template, n)
    first = next(iter(results))
    for name, per in results.items():
        if name != first and per > 0:
            print(f"{first} / {name}: {results[first] / per:.2f}")


if __name__ == "__main__":
    main()
