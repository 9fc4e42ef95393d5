#!/usr/bin/env bash
# jobq with its log in PostgreSQL: starts a throwaway PostgreSQL 15 (initdb
# and pg_ctl in a temporary directory, a private Unix socket, no TCP port,
# synchronous_commit on), then jobqd --postgres on loopback, and runs the
# rows of issue 14's targets with jobq-bench. Stops both by their pids and
# removes the directory. As root it runs PostgreSQL as the postgres user.
#   tests/perf/postgres.sh [jobs per throughput row, default 200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-build/bin}
count=${1:-200000}
port=${PORT:-17170}
pgbin=/usr/lib/postgresql/15/bin
base=$(mktemp -d /tmp/jobq-pgperf.XXXXXX)
chmod 755 "$base"
mkdir "$base/sock"
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$base/sock" "$base"
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [[ -d $base/data ]] && as_owner "$pgbin/pg_ctl -D $base/data -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$base"
}
trap cleanup EXIT

as_owner "$pgbin/initdb -A trust --no-sync -U postgres -D $base/data" >/dev/null
as_owner "$pgbin/pg_ctl -w -D $base/data -l $base/server.log -o \"-c listen_addresses='' -k $base/sock\" start" >/dev/null
conninfo="host=$base/sock dbname=postgres user=postgres"
schema=0

start() {
  schema=$((schema + 1))
  "$bin/jobqd" --listen "127.0.0.1:$port" --http-listen "" \
    --postgres "$conninfo" --postgres-schema "perf$schema" "$@" 2>"$base/jobqd.log" &
  pid=$!
  "$bin/jobqctl" --addr "127.0.0.1:$port" health --wait 60s >/dev/null && return 0
  cat "$base/jobqd.log"
  echo "jobqd did not become ready" >&2
  return 1
}
# Each row's jobqd writes a schema of its own, dropped after it, so that
# PostgreSQL's autovacuum of one row's tables does not run during the next.
stop() {
  kill "$pid"; wait "$pid" || true; pid=""
  psql -q "$conninfo" -c "SET client_min_messages = warning; DROP SCHEMA perf$schema CASCADE" >/dev/null
}
bench() { "$bin/jobq-bench" --addr "127.0.0.1:$port" "$@" || true; }

echo "== PostgreSQL 15, synchronous_commit on, jobqd --postgres"
start
bench e2e -n "$count"
bench ingest -n "$count" --path batch
stop
start
for rate in 1000 5000; do bench latency --rate "$rate" --duration 5; done
stop
