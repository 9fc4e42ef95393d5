#!/usr/bin/env bash
# Ingest throughput and ack latency of jobqd in memory, with --sync=fsync and
# with --sync=none. Starts and stops its own jobqd on loopback.
#   tests/perf/ingest.sh [jobs per path, default 200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-build/bin}
count=${1:-200000}
port=${PORT:-17070}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

run() {
  local label=$1; shift
  "$bin/jobqd" --listen "127.0.0.1:$port" "$@" 2>"$data/jobqd.log" &
  local pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$data/jobqd.log" && break
    sleep 0.05
  done
  echo "== $label"
  "$bin/jobq-bench" --addr "127.0.0.1:$port" ingest -n "$count" || true
  kill "$pid"
  wait "$pid" || true
}

run "memory"
run "wal, --sync=fsync" --data-dir "$data/fsync" --sync fsync
run "wal, --sync=none" --data-dir "$data/none" --sync none
