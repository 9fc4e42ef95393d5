#!/usr/bin/env bash
# The standard jobq performance suite: starts its own jobqd on loopback for
# each configuration, runs jobq-bench, stops jobqd by its pid. Figures go to
# stdout; docs/performance.md records a run.
#   tests/perf/run.sh [jobs per ingest path, default 200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-build/bin}
count=${1:-200000}
port=${PORT:-17070}
data=$(mktemp -d)
pid=""
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; rm -rf "$data"' EXIT

# Starts jobqd and returns once it answers its health check SERVING (never
# on a log line: a reused log file still holds the previous run's until the
# child truncates it). Bounded: 60 s, for a long recovery; the health
# check waits for the port to listen, too.
start() {
  "$bin/jobqd" --listen "127.0.0.1:$port" --http-listen "" "$@" 2>"$data/jobqd.log" &
  pid=$!
  "$bin/jobqctl" --addr "127.0.0.1:$port" health --wait 60s >/dev/null && return 0
  cat "$data/jobqd.log"
  echo "jobqd did not become ready" >&2
  return 1
}
stop() { kill "$pid"; wait "$pid" || true; pid=""; }
bench() { "$bin/jobq-bench" --addr "127.0.0.1:$port" "$@" || true; }

echo "== memory"
start --stream-buffer 1000000
bench ingest -n "$count"
bench e2e -n "$count"
bench e2e --remote -n "$count"
for rate in 1000 5000 20000; do bench latency --rate "$rate" --duration 5; done
bench fanout -n 100000 --sleep 1s
stop
start --max-finished 1000
bench memory -n 500000
stop

for sync in fsync none; do
  echo "== write-ahead log, --sync=$sync"
  rm -rf "$data/wal"
  start --data-dir "$data/wal" --sync "$sync"
  bench ingest -n "$count"
  bench e2e -n "$count"
  bench e2e --remote -n "$count"
  bench latency --rate 5000 --duration 5
  stop
done

echo "== queue operations"
"$bin/queue_bench" --benchmark_min_time=0.2 2>/dev/null | grep BM_ || true
