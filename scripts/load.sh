#!/usr/bin/env bash
# Load test: greenlight's `hello` against a may_minihttp hello, side by side, in one run.
#
# may_minihttp runs on the same runtime (may) with a minimal HTTP parser and no WSGI layer,
# so the ratio greenlight / may_minihttp is the cost of our HTTP/1.1 and WSGI path. Both
# servers answer `200`, `Content-Type: text/plain; charset=utf-8`, a `Date` and the 14-byte
# body "Hello, World!\n" (examples/hello.rs, examples/minihttp_hello.rs). Our `hello` is an
# ordinary app on the full path: the head parsed, the Environ built, the app called; the
# access log is off (its default).
#
#   1. Both servers start pinned to CPU 0 (`taskset -c 0`, `--threads 1`), on two ports.
#   2. wrk, pinned to CPU 1, measures them alternately, $ROUNDS rounds of: keep-alive
#      `wrk -t1 -c100 -d$DUR` on each, then the same with 16 pipelined requests per write
#      (a Lua `request` returning 16 `wrk.format` requests) on each. Alternating runs
#      share whatever else the machine is doing; the table shows each figure's median.
#   3. For each server in turn, on a fresh process: read VmRSS of its process tree,
#      open $IDLE idle keep-alive connections (each sends one request and reads the
#      answer, then stays open), read VmRSS again: (after - before) / $IDLE is the RSS per
#      idle connection.
# Then it prints a table of both servers' figures and the ratios, and whether the targets
# hold (throughput >= 0.9x may_minihttp's, RSS per idle connection <= may_minihttp's).
# It also prints the server's CPU time per request (user + system, from /proc/PID/stat,
# kernel TCP work included) for each wrk run: on a machine that is not idle, throughput
# swings with other load while CPU time per request stays much steadier.
#
# greenlight is started with `--keep-alive 300 --worker-connections 20000`: gunicorn's
# defaults (5 s, 1000 connections) would close or refuse the idle connections this
# measures. They change nothing on the request path.
#
# Requirements (installs nothing): wrk (Debian/Ubuntu: `sudo apt-get install wrk`),
# taskset (package `util-linux`), python3, a hard `ulimit -n` above $IDLE + 100, and at
# least two CPUs. Figures are only comparable when the machine is otherwise idle: the load
# average is printed with them.
#
# Usage:   scripts/load.sh                 # DUR=10 s per wrk run, ROUNDS=3, IDLE=5000
#          DUR=5 ROUNDS=1 IDLE=2000 scripts/load.sh
# It takes about 4 x ROUNDS x DUR seconds plus a minute.
# Environment: DUR (seconds per wrk run), ROUNDS, IDLE (idle connections), CONNS (wrk -c,
#   100), DEPTH (pipeline depth, 16), PORT (first of two ports, 18080), CARGO_TARGET_DIR,
#   GL_FLAGS (more flags for greenlight: the cost of an option is the ratio with and
#   without it, e.g. GL_FLAGS="--max-blocking-time 0.5" for the blocking watchdog or
#   GL_FLAGS="--request-timeout 30" for request deadlines).
set -euo pipefail

DUR=${DUR:-10}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-5000}
CONNS=${CONNS:-100}
DEPTH=${DEPTH:-16}
PORT=${PORT:-18080}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

cd "$(dirname "$0")/.."

missing=0
for tool in wrk taskset python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        case $tool in
            wrk) echo "error: wrk not found; install it with: sudo apt-get install wrk" >&2 ;;
            taskset) echo "error: taskset not found; install it with: sudo apt-get install util-linux" >&2 ;;
            python3) echo "error: python3 not found; install it with: sudo apt-get install python3" >&2 ;;
        esac
        missing=1
    fi
done
[ "$missing" = 0 ] || exit 1
if [ "$(nproc)" -lt 2 ]; then
    echo "error: needs two CPUs (server on CPU $SERVER_CPU, wrk on CPU $WRK_CPU)" >&2
    exit 1
fi
want_fds=$((IDLE + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -n "$want_fds" 2>/dev/null || {
        echo "error: cannot raise ulimit -n to $want_fds (hard limit $(ulimit -Hn)); lower IDLE" >&2
        exit 1
    }
fi

echo "building the examples (release)..." >&2
cargo build --release --quiet --example hello --example minihttp_hello
target_dir=${CARGO_TARGET_DIR:-target}
GL_BIN=$target_dir/release/examples/hello
MH_BIN=$target_dir/release/examples/minihttp_hello

tmp=$(mktemp -d)
declare -A PID # server name -> pid
idle_pid=
cleanup() {
    if [ -n "$idle_pid" ]; then kill "$idle_pid" 2>/dev/null || true; fi
    for pid in "${PID[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$tmp/pipeline.lua" <<EOF
-- $DEPTH pipelined GETs per write; wrk counts each response.
init = function(args)
  local r = {}
  for i = 1, $DEPTH do
    r[i] = wrk.format(nil, "/")
  end
  req = table.concat(r)
end
request = function()
  return req
end
EOF

cat >"$tmp/idle.py" <<'EOF'
# Opens N keep-alive connections, sends one request on each and reads its answer, then
# prints "ready" and keeps them open until stdin closes.
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    got = b""
    while b"Hello, World!\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"connection {i} closed by the server")
        got += chunk
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
EOF

declare -A PORT_OF=([greenlight]=$PORT [may_minihttp]=$((PORT + 1)))

start_server() { # name
    local port=${PORT_OF[$1]}
    case $1 in
        greenlight)
            taskset -c "$SERVER_CPU" "$GL_BIN" -b "127.0.0.1:$port" --threads 1 \
                --keep-alive 300 --worker-connections 20000 --log-level warning \
                ${GL_FLAGS:-} >"$tmp/$1.log" 2>&1 &
            ;;
        may_minihttp)
            taskset -c "$SERVER_CPU" "$MH_BIN" --bind "127.0.0.1:$port" --threads 1 \
                >"$tmp/$1.log" 2>&1 &
            ;;
    esac
    PID[$1]=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if ! kill -0 "${PID[$1]}" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "error: $1 did not start on port $port:" >&2
    cat "$tmp/$1.log" >&2
    exit 1
}

stop_server() { # name
    kill "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

# The server's process and its children (greenlight::run is a master with workers).
procs() { echo "${PID[$1]}" $(pgrep -P "${PID[$1]}"); }

rss_kib() { # the whole process tree's VmRSS
    local p total=0 kib
    for p in $(procs "$1"); do
        kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

CLK_TCK=$(getconf CLK_TCK)
# The server's user + system CPU time so far (its whole process tree), in clock ticks.
cpu_ticks() {
    local p total=0 t
    for p in $(procs "$1"); do
        t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

run_wrk() { # name [wrk args...] -> "requests/s server-CPU-µs/request"; errors go to stderr
    local name=$1 port=${PORT_OF[$1]} out c0 c1
    shift
    c0=$(cpu_ticks "$name")
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout 5s "$@" \
        "http://127.0.0.1:$port/")
    c1=$(cpu_ticks "$name")
    if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
        echo "warning: wrk reported errors:" >&2
        grep -E 'Socket errors|Non-2xx' <<<"$out" >&2
    fi
    awk -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" '
        / requests in / { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        END { printf "%.0f %.2f", rps, (n > 0 ? ticks * 1e6 / hz / n : 0) }' <<<"$out"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A KA PL KA_CPU PL_CPU RSS
SERVERS="greenlight may_minihttp"
for name in $SERVERS; do start_server "$name"; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
    for mode in KA PL; do
        for name in $SERVERS; do
            echo "round $round/$ROUNDS: $name, $([ $mode = KA ] && echo keep-alive || echo "pipelined x$DEPTH") (${DUR}s)..." >&2
            if [ $mode = KA ]; then
                read -r rps cpu <<<"$(run_wrk "$name")"
                KA[$name]+="$rps "
                KA_CPU[$name]+="$cpu "
            else
                read -r rps cpu <<<"$(run_wrk "$name" -s "$tmp/pipeline.lua")"
                PL[$name]+="$rps "
                PL_CPU[$name]+="$cpu "
            fi
        done
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
for name in $SERVERS; do stop_server "$name"; done

for name in $SERVERS; do
    echo "$name: $IDLE idle keep-alive connections..." >&2
    start_server "$name"
    sleep 0.5
    before=$(rss_kib "$name")
    coproc IDLER { exec python3 "$tmp/idle.py" "${PORT_OF[$name]}" "$IDLE"; }
    idle_pid=$IDLER_PID
    read -r ready <&"${IDLER[0]}" || ready=
    if [ "$ready" != ready ]; then
        echo "error: could not open $IDLE connections to $name" >&2
        exit 1
    fi
    sleep 1
    after=$(rss_kib "$name")
    exec {IDLER[1]}>&-
    wait "$idle_pid" 2>/dev/null || true
    idle_pid=
    RSS[$name]=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.2f", (a - b) / n }')
    echo "$name: RSS $before KiB idle -> $after KiB with $IDLE connections" >&2
    stop_server "$name"
done

for name in $SERVERS; do
    echo "$name: keep-alive req/s ${KA[$name]}; pipelined req/s ${PL[$name]}" >&2
    for v in KA PL KA_CPU PL_CPU; do
        declare -n ref=$v
        ref[$name]=$(median <<<"${ref[$name]}")
        unset -n ref
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
r_ka=$(ratio "${KA[greenlight]}" "${KA[may_minihttp]}")
r_pl=$(ratio "${PL[greenlight]}" "${PL[may_minihttp]}")
r_rss=$(ratio "${RSS[greenlight]}" "${RSS[may_minihttp]}")
verdict() { # ratio op bound
    awk -v r="$1" -v op="$2" -v b="$3" 'BEGIN {
        ok = (op == ">=") ? (r >= b) : (r <= b); print (ok ? "ok" : "MISSED") }'
}

echo
echo "greenlight hello vs may_minihttp hello: server on CPU $SERVER_CPU (--threads 1), wrk -t1 on CPU $WRK_CPU"
echo "wrk: -c$CONNS -d${DUR}s, medians of $ROUNDS alternating rounds; pipelined depth $DEPTH; idle connections: $IDLE"
echo "load average (1/5/15 min) before the wrk runs: $load_before; after: $load_after"
printf '%-28s %14s %14s %8s  %s\n' "" greenlight may_minihttp ratio "target"
printf '%-28s %14.0f %14.0f %8s  %s\n' "keep-alive (req/s)" "${KA[greenlight]}" "${KA[may_minihttp]}" "$r_ka" \
    ">= 0.9 $(verdict "$r_ka" ">=" 0.9)"
printf '%-28s %14.0f %14.0f %8s  %s\n' "pipelined x$DEPTH (req/s)" "${PL[greenlight]}" "${PL[may_minihttp]}" "$r_pl" \
    ">= 0.9 $(verdict "$r_pl" ">=" 0.9)"
printf '%-28s %14.2f %14.2f %8s  %s\n' "keep-alive CPU (us/req)" "${KA_CPU[greenlight]}" "${KA_CPU[may_minihttp]}" \
    "$(ratio "${KA_CPU[greenlight]}" "${KA_CPU[may_minihttp]}")" "(server CPU time; lower is better)"
printf '%-28s %14.2f %14.2f %8s  %s\n' "pipelined CPU (us/req)" "${PL_CPU[greenlight]}" "${PL_CPU[may_minihttp]}" \
    "$(ratio "${PL_CPU[greenlight]}" "${PL_CPU[may_minihttp]}")" "(server CPU time; lower is better)"
printf '%-28s %14s %14s %8s  %s\n' "RSS per idle conn (KiB)" "${RSS[greenlight]}" "${RSS[may_minihttp]}" "$r_rss" \
    "<= 1.0 $(verdict "$r_rss" "<=" 1.0)"
