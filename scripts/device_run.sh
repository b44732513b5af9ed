#!/usr/bin/env bash
# The multi-core measurements of one device-machine session, as one prepared run (the
# device machine is lent for minutes and can fetch nothing). On this machine first:
#
#     cargo build --release --examples
#     bash ../shared/bench/device-kit.sh          # packs .benchkit/ (wrk, the peers, hello, sleep)
#     cp scripts/worker_share.py scripts/thread_stats.py scripts/busy_rss.py .benchkit/
#
# then give the device tool this command, with carry [".benchkit"] and timeout_s 580:
#
#     bash scripts/device_run.sh
#
# It writes everything to $OUT (the device tool's output folder) and to stdout:
#   1. multicore.txt: ../shared/bench/multicore.py on 8 server cores and 8 wrk cores,
#      2 rounds: greenlight as one process (--threads 8) and as -w 8 --threads 1,
#      may_minihttp (8 workers) and hyper (8 threads): keep-alive, pipelined, and 10,000
#      connections on a 100 ms sleep handler with the RSS of each process tree.
#   2. share.txt: each worker's share of a keep-alive load (wrk -c256) with -w 8.
#   3. threads.txt: what each OS thread does under a keep-alive load (wrk -c256 on cores
#      8-15): one process with --threads 8, the same with each thread pinned to a core,
#      -w 8, and may_minihttp (which may pins): CPU per request, migrations and context
#      switches per 1,000 requests, each busy thread's CPU share.
#   4. busy.txt: 10,000 connections in a 100 ms request to one process with --threads 8:
#      RSS of the worker while they are busy, its stacks and the rest per connection.
# About 8 minutes in all. Ratios, not absolute figures, are what to report.
set -uo pipefail
cd "$(dirname "$0")/../.benchkit" || { echo "no .benchkit/: see the header" >&2; exit 2; }
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"
G="--worker-connections 20000 --keep-alive 60 --backlog 8192"
PYTHONUNBUFFERED=1 timeout 330 python3 multicore.py --wrk ./wrkw --cores 8 --secs 5 --rounds 2 \
    gl_1proc="./hello --bind {bind} --threads 8 $G ;; ./sleep --bind {bind} --threads 8 $G" \
    gl_w8="./hello --bind {bind} -w 8 --threads 1 $G ;; ./sleep --bind {bind} -w 8 --threads 1 $G" \
    may_minihttp="WORKERS=8 ./may_minihttp_hello {bind}" \
    hyper="TOKIO_WORKER_THREADS=8 ./hyper_hello {bind}" 2>&1 | tee "$OUT/multicore.txt"
WRK=./wrkw THREADS=8 CONNS=256 SECS=5 ROUNDS=2 timeout 60 \
    taskset -c 0-15 python3 worker_share.py "./hello --bind {bind} -w 8 --threads 1 $G" \
    2>&1 | tee "$OUT/share.txt"
SERVER_CPUS=0-7 WRK_CPUS=8-15 WRK=./wrkw WRK_THREADS=8 DUR=5 timeout 70 \
    python3 thread_stats.py gl_1proc="./hello --bind {bind} --threads 8 $G" \
    gl_1proc+pin="./hello --bind {bind} --threads 8 $G" \
    gl_w8="./hello --bind {bind} -w 8 --threads 1 $G" \
    may_minihttp="env WORKERS=8 ./may_minihttp_hello {bind}" 2>&1 | tee "$OUT/threads.txt"
DUR=6 WRK=./wrkw WRK_THREADS=4 timeout 40 taskset -c 0-15 python3 busy_rss.py 10000 \
    "./sleep --bind {bind} --threads 8 $G" 2>&1 | tee "$OUT/busy.txt"
