#!/usr/bin/env python3
"""Load that once corrupted memory: a `-w 3` server under 4 keep-alive clients, a new
connection every 5 ms (`/?ms=0`: a sleep of 0 ms) and 4 requests of 700 ms, optionally with
a HUP every second.

may's `sleep` and `park` register a parked green thread's cancellation data after handing
it to the timer; a sleep that ends at once could let the green thread finish and free that
data first. Workers died of SIGSEGV within seconds, more often when the handler read
coroutine-local storage. greenlight now keeps each ended green thread's handle for a while
(`src/green/coroutine.rs`, `KeepHandle`); this script should print "segv 0", with a
coroutine-local read added to the sleep example's handler too. `tests/green_churn.rs` is
the bounded regression test.

    cargo build --example sleep
    python3 scripts/stress_local.py target/debug/examples/sleep 3        # prints "segv N"
    python3 scripts/stress_local.py target/debug/examples/sleep 3 hup    # plus a HUP a second
"""
import socket, subprocess, sys, threading, time, os, signal
exe = sys.argv[1]; rounds = int(sys.argv[2]); hup = len(sys.argv) > 3 and sys.argv[3] == "hup"
p = subprocess.Popen([exe, "-b", "127.0.0.1:18788", "-w", "3", "--graceful-timeout", "1"], stderr=subprocess.PIPE, text=True)
lines = []
def rd():
    for l in p.stderr: lines.append(l)
threading.Thread(target=rd, daemon=True).start()
time.sleep(1.0)
stop = [False]
def ka():
    s = None
    while not stop[0]:
        try:
            if s is None: s = socket.create_connection(("127.0.0.1", 18788), timeout=5)
            s.sendall(b"GET /?ms=2 HTTP/1.1\r\nHost: x\r\n\r\n"); d = s.recv(4096)
            if not d: s = None
        except Exception: s = None; time.sleep(0.005)
def probe():
    while not stop[0]:
        try:
            s = socket.create_connection(("127.0.0.1", 18788), timeout=5)
            s.sendall(b"GET /?ms=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); s.recv(4096); s.close()
        except Exception: pass
        time.sleep(0.005)
def slow():
    while not stop[0]:
        try:
            s = socket.create_connection(("127.0.0.1", 18788), timeout=5)
            s.sendall(b"GET /?ms=700 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); s.recv(4096); s.close()
        except Exception: time.sleep(0.01)
ts = [threading.Thread(target=f) for f in [ka]*4 + [probe] + [slow]*4]
for t in ts: t.start()
for r in range(rounds):
    time.sleep(1.0)
    if hup: os.kill(p.pid, signal.SIGHUP)
time.sleep(1.0)
stop[0] = True
for t in ts: t.join()
p.send_signal(signal.SIGTERM); p.wait(timeout=30)
print("segv", sum("SIGSEGV" in l or "SIGABRT" in l for l in lines), "hup" if hup else "")
