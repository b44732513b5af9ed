#!/usr/bin/env python3
"""RSS per idle WebSocket connection: starts the release `websocket` example (one
worker), opens N WebSocket connections that then stay silent, and reports the worker's
and the master's VmRSS (/proc/PID/status) before and after, the difference per
connection, and the CPU the worker spends while they all sit idle (it should be ~0:
nothing polls).

    cargo build --release --example websocket
    python3 scripts/ws_idle.py [N]            # N defaults to 10000

Raises this process's open-files limit to the hard limit (the server raises its own);
N is capped by that limit less a few. Plain sockets, no dependencies.
"""
import base64
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

EXE = "target/release/examples/websocket"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def start_server(n):
    proc = subprocess.Popen(
        [EXE, "-b", "127.0.0.1:0", "-w", "1", "--worker-connections", str(n + 100),
         "--backlog", "4096"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    port = worker = None
    lines = []
    while port is None or worker is None:
        line = proc.stderr.readline()
        if not line:
            sys.exit("the server exited:\n" + "".join(lines))
        lines.append(line)
        m = re.search(r"Listening at: http://[\d.]+:(\d+)", line)
        if m:
            port = int(m.group(1))
        m = re.search(r"Booting worker with pid: (\d+)", line)
        if m:
            worker = int(m.group(1))
    # Keep draining its log so that it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, port, worker


def open_ws(port):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = s.recv(1)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101 "):
        raise RuntimeError(head.decode(errors="replace"))
    return s


def echo_ok(s):
    s.sendall(b"\x81\x82\0\0\0\0ok")  # "ok", masked with a zero key
    return s.recv(16) == b"\x81\x02ok"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if n > hard - 50:
        print(f"open-files hard limit {hard}: N lowered from {n} to {hard - 50}")
        n = hard - 50
    proc, port, worker = start_server(n)
    try:
        warm = [open_ws(port) for _ in range(10)]  # the first connections' one-off costs
        for s in warm:
            s.close()
        time.sleep(1)
        before_w, before_m = rss_kib(worker), rss_kib(proc.pid)
        t0 = time.time()
        socks = [open_ws(port) for _ in range(n)]
        opened = time.time() - t0
        time.sleep(2)
        after_w, after_m = rss_kib(worker), rss_kib(proc.pid)
        ticks0 = cpu_ticks(worker)
        time.sleep(5)
        idle_ticks = cpu_ticks(worker) - ticks0
        alive = sum(echo_ok(s) for s in socks[:: max(1, n // 100)])
        print(f"connections: {n} WebSockets open and idle (opened in {opened:.1f} s)")
        print(f"worker {worker}: VmRSS {before_w} KiB -> {after_w} KiB: "
              f"{(after_w - before_w) / n:.2f} KiB per connection")
        print(f"master {proc.pid}: VmRSS {before_m} KiB -> {after_m} KiB")
        print(f"worker CPU over 5 s with all of them idle: {idle_ticks} ticks "
              f"({os.sysconf('SC_CLK_TCK')} ticks/s)")
        print(f"sampled sockets still echoing: {alive}/{len(socks[:: max(1, n // 100)])}")
        for s in socks:
            s.close()
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
