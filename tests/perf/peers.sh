#!/usr/bin/env bash
# jobq side by side with beanstalkd, on this machine, in one run: the same
# workloads (64-byte jobs, loopback), at three levels of durability, with
# the ratio of jobq to beanstalkd per row.
#
#   ingest: jobs accepted as fast as the client can pipeline them, one job
#           per request (beanstalkd: put on 8 connections; jobq: SubmitStream
#           on 4 streams), and jobq's bulk path (SubmitBatch) for reference.
#   cycle:  producers submit while consumers take and acknowledge each job
#           (beanstalkd: reserve + delete on 4 connections; jobq: a remote
#           worker, which also streams every completion back to the producer).
#
# Durability, weakest first:
#   memory     jobs in memory only
#   log        acknowledged after write(2) (jobq --sync=none); beanstalkd -b
#              fsyncs at most every 50 ms
#   fsync      acknowledged after fdatasync (jobq --sync=fsync, group
#              commit; beanstalkd -b -f0)
#
# Then latency: one producer sends 64-byte jobs open loop at a fixed rate,
# each timed from its due time to the end of its way back at the producer
# (microseconds, p50/p99), all three systems in memory:
#   beanstalkd  put; reserve and delete on a second connection; until the
#               delete is answered (beanstalk_bench latency)
#   gearmand    SUBMIT_JOB to a worker that completes it at once; until its
#               WORK_COMPLETE reaches the client (gearman_bench latency)
#   jobq        SubmitStream of noop jobs; until the job's SUCCEEDED event
#               reaches the producer (jobq-bench latency)
# and jobq alone with --sync=fsync, and at 20,000 jobs/s.
#
# Installs beanstalkd and gearmand (the Debian packages) if missing; starts
# each server on loopback and stops it by its pid.
#   tests/perf/peers.sh [jobs per run, default 200000]
#   LATENCY_SECONDS=S: each latency run's length (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-build/bin}
count=${1:-200000}
# beanstalkd with an fsync per write manages a few thousand jobs/s.
fsync_count=${FSYNC_COUNT:-$((count / 10))}
data=$(mktemp -d)
jport=""
# A free loopback port for beanstalkd, which cannot report one it chose.
free_port() {
  /usr/bin/python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
bport=${BEANSTALK_PORT:-$(free_port)}
gport=${GEARMAN_PORT:-$(free_port)}
pid=""
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; rm -rf "$data"' EXIT

missing=()
command -v beanstalkd >/dev/null || missing+=(beanstalkd)
[[ -x /usr/sbin/gearmand ]] || missing+=(gearman-job-server)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -q "${missing[@]}" >/dev/null
  else
    sudo apt-get install -y -q "${missing[@]}" >/dev/null
  fi
fi

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}
runs=0
# Starts jobqd on a port it picks and returns once it answers its health
# check SERVING. Each run writes a log of its own: the shell truncates a
# reused one only in the child, after the fork, so a poll of the same file
# could read the previous run's line (and its dead port). The log gives
# the port; readiness is the health check, never the line.
start_jobqd() {
  rm -rf "$data/wal"
  runs=$((runs + 1))
  local log="$data/jobqd.$runs.log"
  jport=""
  "$bin/jobqd" --listen 127.0.0.1:0 --http-listen "" \
    --stream-buffer 1000000 "$@" 2>"$log" &
  pid=$!
  for _ in $(seq 600); do
    jport=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | cut -d: -f2 || true)
    [[ -n $jport ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -n $jport ]] &&
    "$bin/jobqctl" --addr "127.0.0.1:$jport" health --wait 30s >/dev/null; then
    return 0
  fi
  cat "$log" >&2
  echo "jobqd did not become ready" >&2
  return 1
}
start_beanstalkd() {
  rm -rf "$data/binlog"
  mkdir -p "$data/binlog"
  beanstalkd -l 127.0.0.1 -p "$bport" "$@" &
  pid=$!
  wait_port "$bport"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
# The jobs per second of the first JSON line on stdin.
rate() {
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        print(round(json.loads(line)["jobs_per_second"])); break
else:
    print(0)'
}
jobq() { "$bin/jobq-bench" --addr "127.0.0.1:$jport" --json "$@" | rate; }
beanstalk() { "$bin/beanstalk_bench" --port "$bport" "$@" | rate; }

row() {  # workload durability beanstalkd jobq
  printf '%-26s %-7s %12s %12s %7s\n' "$1" "$2" "$3" "$4" \
    "$(/usr/bin/python3 -c "print(f'{$4 / max($3, 1):.2f}x')")"
}

printf '%-26s %-7s %12s %12s %7s\n' workload durable beanstalkd jobq ratio
for level in memory log fsync; do
  n=$count
  case $level in
    memory) jflags=(); bflags=() ;;
    log) jflags=(--data-dir "$data/wal" --sync none); bflags=(-b "$data/binlog") ;;
    fsync) n=$fsync_count
      jflags=(--data-dir "$data/wal" --sync fsync); bflags=(-b "$data/binlog" -f0) ;;
  esac
  start_beanstalkd "${bflags[@]}"
  b_put=$(beanstalk -n "$n" put --conns 8)
  stop
  start_beanstalkd "${bflags[@]}"
  b_cycle=$(beanstalk -n "$n" cycle --producers 4 --consumers 4)
  stop
  start_jobqd "${jflags[@]}"
  j_stream=$(jobq ingest --path stream -n "$n" --streams 4)
  j_batch=$(jobq ingest --path batch -n "$n")
  j_cycle=$(jobq e2e --remote -n "$n" --streams 4)
  stop
  row "ingest, one job a request" "$level" "$b_put" "$j_stream"
  row "ingest, jobq SubmitBatch" "$level" "$b_put" "$j_batch"
  row "cycle (take + ack)" "$level" "$b_cycle" "$j_cycle"
done

# Latency rows.
secs=${LATENCY_SECONDS:-5}
start_gearmand() {
  /usr/sbin/gearmand -L 127.0.0.1 -p "$gport" --log-file none &
  pid=$!
  wait_port "$gport"
}
# "p50/p99" in microseconds of the first JSON line on stdin.
p50p99() {
  /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        d = json.loads(line)["done_ms"]
        p50, p99 = round(d["p50"] * 1000), round(d["p99"] * 1000)
        print(f"{p50}/{p99}"); break
else:
    print("0/0")'
}
jobq_latency() {
  "$bin/jobq-bench" --addr "127.0.0.1:$jport" --json latency --rate "$1" \
    --duration "$secs" | p50p99
}
lrow() {  # rate durability beanstalkd gearmand jobq
  local ratio=-
  if [[ $4 != - ]]; then
    ratio=$(/usr/bin/python3 -c "print(f'{${5#*/} / max(${4#*/}, 1):.2f}x')")
  fi
  printf '%-14s %-7s %13s %13s %13s %7s\n' "latency $1/s" "$2" "$3" "$4" "$5" \
    "$ratio"
}
echo
printf '%-14s %-7s %13s %13s %13s %7s\n' "p50/p99 us" durable beanstalkd \
  gearmand jobq "p99 j/g"
for r in 1000 5000; do
  start_beanstalkd
  b=$("$bin/beanstalk_bench" --port "$bport" latency --rate "$r" \
    --duration "$secs" | p50p99)
  stop
  start_gearmand
  g=$("$bin/gearman_bench" --port "$gport" latency --rate "$r" \
    --duration "$secs" | p50p99)
  stop
  start_jobqd
  j=$(jobq_latency "$r")
  stop
  lrow "$r" memory "$b" "$g" "$j"
done
for r in 1000 5000; do
  start_jobqd --data-dir "$data/wal" --sync fsync
  j=$(jobq_latency "$r")
  stop
  lrow "$r" fsync - - "$j"
done
start_jobqd
j=$(jobq_latency 20000)
stop
lrow 20000 memory - - "$j"
