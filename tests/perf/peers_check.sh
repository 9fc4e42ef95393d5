#!/usr/bin/env bash
# The ctest PeersScriptMeasuresEveryRow: peers.sh with a few thousand jobs
# and one-second latency runs (a check that every row measures, not a
# figure): nine throughput rows with both systems ahead of zero and a
# ratio, two latency rows with all three systems, three of jobq alone.
set -euo pipefail
out=$(LATENCY_SECONDS=${LATENCY_SECONDS:-1} "$(dirname "$0")/peers.sh" 2000)
echo "$out"
n=$(echo "$out" | grep -cE ' [1-9][0-9]* +[1-9][0-9]* +[0-9.]+x$' || true)
[[ $n -eq 9 ]] || { echo "throughput rows: $n of 9" >&2; exit 1; }
p='[1-9][0-9]*/[1-9][0-9]*'
n=$(echo "$out" | grep -cE "^latency [0-9]+/s +memory +$p +$p +$p +[0-9.]+x$" || true)
[[ $n -eq 2 ]] || { echo "latency rows beside the peers: $n of 2" >&2; exit 1; }
n=$(echo "$out" | grep -cE "^latency [0-9]+/s +(memory|fsync) +- +- +$p +-$" || true)
[[ $n -eq 3 ]] || { echo "latency rows of jobq alone: $n of 3" >&2; exit 1; }
