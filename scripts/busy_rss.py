#!/usr/bin/env python3
"""Memory of busy connections: N keep-alive connections each in a 100 ms request.

Starts the server command (`{bind}` stands for 127.0.0.1:PORT), drives it with
`wrk -t1 -cN -dDUR --latency '/?ms=100'` (the `sleep` example's handler sleeps that long,
so about N requests are in flight at any moment), and two thirds into the run reads:

- VmRSS of the server's whole process tree, and of its largest process (the worker);
- for each process, its green-thread stacks from /proc/PID/smaps (anonymous maps of
  STACK KiB, 256 by default: greenlight's `--stack-size`): how many, and the resident KiB
  each (the pages the deepest moment of a request touched);
- the rest of its anonymous memory (the heap: buffers and connection state).

Then it prints requests/s, p99 latency, and these figures per connection. The multi-core
form of this load is `../shared/bench/multicore.py`'s c10k column.

    cargo build --release --examples
    python3 scripts/busy_rss.py 10000 'target/release/examples/sleep --bind {bind} \\
        --threads 1 --worker-connections 20000 --keep-alive 60 --backlog 8192'

Environment: DUR (seconds, 8), PORT (18600), STACK (KiB, 256), WRK (the wrk to run),
WRK_THREADS (its -t, 1). Requires wrk, a hard
`ulimit -n` above N + 100, and python3; installs nothing. Pins nothing: on a small machine
wrk and the server share the CPUs, which changes requests/s but not memory per connection.
"""
import os
import re
import subprocess
import sys
import threading
import time


def tree(pid):
    """`pid` and its descendants."""
    out = [pid]
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for k in kids.stdout.split():
        out += tree(int(k))
    return out


def vm_rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def smaps(pid, stack_kib):
    """(stacks, resident KiB of stacks, resident KiB of other anonymous maps)."""
    stacks = stack_rss = other = 0
    kind = None
    for line in open(f"/proc/{pid}/smaps"):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
        if m:
            size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            anon = m.group(3) in ("", "[heap]")
            kind = "stack" if anon and size == stack_kib else "anon" if anon else None
            stacks += kind == "stack"
            continue
        if line.startswith("Rss:") and kind:
            kib = int(line.split()[1])
            if kind == "stack":
                stack_rss += kib
            else:
                other += kib
    return stacks, stack_rss, other


def main():
    n, cmd = int(sys.argv[1]), sys.argv[2]
    dur = int(os.environ.get("DUR", "8"))
    port = int(os.environ.get("PORT", "18600"))
    stack_kib = int(os.environ.get("STACK", "256"))
    server = subprocess.Popen(cmd.format(bind=f"127.0.0.1:{port}").split(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        base = sum(vm_rss_kib(p) for p in tree(server.pid))
        out = {}
        wrk = threading.Thread(target=lambda: out.update(text=subprocess.run(
            [os.environ.get("WRK", "wrk"), f"-t{os.environ.get('WRK_THREADS', '1')}", f"-c{n}",
             f"-d{dur}s", "--latency",
             f"http://127.0.0.1:{port}/?ms=100"], capture_output=True, text=True).stdout))
        wrk.start()
        time.sleep(dur * 2 / 3 + 1)
        procs = tree(server.pid)
        each = [vm_rss_kib(p) for p in procs]
        rss = sum(each)
        maps = [smaps(p, stack_kib) for p in procs]
        wrk.join()
    finally:
        server.terminate()
        server.wait()
    stacks = sum(m[0] for m in maps)
    stack_rss = sum(m[1] for m in maps)
    other = sum(m[2] for m in maps)
    text = out.get("text", "")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"99%\s+(\S+)", text)
    print(f"{n} connections, 100 ms requests: {rps.group(1) if rps else '?'} requests/s, "
          f"p99 {p99.group(1) if p99 else '?'}")
    print(f"RSS of the process tree: {rss / 1024:.0f} MiB ({base / 1024:.0f} MiB before the load); "
          f"of its largest process: {max(each) / 1024:.0f} MiB")
    print(f"green-thread stacks: {stacks}, {stack_rss / 1024:.0f} MiB resident, "
          f"{stack_rss / max(stacks, 1):.1f} KiB each")
    print(f"other anonymous memory: {other / 1024:.0f} MiB, "
          f"{other / n:.1f} KiB per connection")


if __name__ == "__main__":
    main()
