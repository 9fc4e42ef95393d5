#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for a bounded time, starting
# from its seed corpus (new inputs go to a scratch copy, not the tree).
# A crash fails the run and is written to tests/fuzz/crashes/<target>/: keep
# it there (git add) once fixed, and every test run replays it.
#   tests/fuzz/run.sh [build dir, default build-fuzz] [seconds per target, default 15]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz}
seconds=${2:-15}
scratch=$(mktemp -d /tmp/jobq-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
status=0
for target in wal request config; do
  mkdir -p "$scratch/$target" "tests/fuzz/crashes/$target"
  cp tests/fuzz/corpus/$target/* "$scratch/$target/"
  if "$build/bin/${target}_fuzz" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="tests/fuzz/crashes/$target/" \
      "$scratch/$target" >"$scratch/$target.log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$scratch/$target.log" | grep -oE '[0-9]+$')
    cov=$(grep -oE 'cov: [0-9]+' "$scratch/$target.log" | tail -1)
    echo "fuzz $target: ${seconds}s, $runs inputs, $cov, no crash"
  else
    tail -40 "$scratch/$target.log"
    echo "fuzz $target: FAILED; the input is in tests/fuzz/crashes/$target/"
    status=1
  fi
done
exit $status
