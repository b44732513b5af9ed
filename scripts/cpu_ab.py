#!/usr/bin/env python3
"""CPU per request of several server commands, side by side in one run.

Each round starts every server in turn on CPU 0 (`taskset -c 0`), drives it with
`wrk -t1 -c$CONNS` on CPU 1 for DUR seconds (keep-alive, or 16 pipelined requests per
write), and reads the CPU time of its whole process tree (user + system, from /proc) before
and after: CPU time per request is steadier than requests/s on a machine that is not idle,
and alternating rounds share whatever else it is doing. Prints each server's median
requests/s and CPU per request, with every round's figure.

For comparing two builds of greenlight (or greenlight and a peer) on the same load, e.g.
before and after a change:

    python3 scripts/cpu_ab.py pipe 5 4 \\
        before='/tmp/hello_before -b 127.0.0.1:{port} --threads 1 --keep-alive 300' \\
        after='target/release/examples/hello -b 127.0.0.1:{port} --threads 1 --keep-alive 300' \\
        may_minihttp='target/release/examples/minihttp_hello --bind 127.0.0.1:{port} --threads 1'

Arguments: MODE (`ka` or `pipe`), ROUNDS, DUR (seconds per wrk run), then NAME='COMMAND'
pairs, `{port}` standing for the port. Environment: CONNS (wrk -c, 100), PORT (first port,
18200). Requires wrk, taskset and two CPUs; installs nothing.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

PIPELINE = """init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
"""


def tree_ticks(pid):
    """CPU clock ticks (user + system) of `pid` and its children."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    ticks = 0
    for p in [pid] + [int(k) for k in kids.stdout.split()]:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return ticks


def measure(cmd, port, mode, dur, lua):
    """One wrk run against a fresh server: (requests/s, CPU microseconds per request)."""
    server = subprocess.Popen(["taskset", "-c", "0"] + cmd.format(port=port).split(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.7)
        extra = ["-s", lua] if mode == "pipe" else []
        conns = os.environ.get("CONNS", "100")
        t0 = tree_ticks(server.pid)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{dur}s"]
                             + extra + [f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True).stdout
        t1 = tree_ticks(server.pid)
    finally:
        server.terminate()
        server.wait()
    n = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, (t1 - t0) / os.sysconf("SC_CLK_TCK") / n * 1e6


def main():
    mode, rounds, dur = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode not in ("ka", "pipe"):
        sys.exit("MODE is ka or pipe")
    servers = [a.split("=", 1) for a in sys.argv[4:]]
    results = {name: ([], []) for name, _ in servers}
    port = int(os.environ.get("PORT", "18200"))
    with tempfile.TemporaryDirectory() as tmp:
        lua = os.path.join(tmp, "pipeline.lua")
        with open(lua, "w") as f:
            f.write(PIPELINE)
        for _ in range(rounds):
            for name, cmd in servers:
                port += 1
                rps, cpu = measure(cmd, port, mode, dur, lua)
                results[name][0].append(rps)
                results[name][1].append(cpu)
    for name, (rps, cpu) in results.items():
        each = " ".join(f"{c:.3f}" for c in cpu)
        print(f"{name:>14}: {statistics.median(rps):>10.0f} req/s, "
              f"CPU {statistics.median(cpu):.3f} us/request   (rounds: {each})")


if __name__ == "__main__":
    main()
