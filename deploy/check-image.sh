#!/usr/bin/env bash
# Builds the Docker image with buildah and runs jobq from it, without a
# Docker engine or a registry:
#   1. a Debian 12 root made with debootstrap (minbase) is committed as
#      debian:bookworm and debian:bookworm-slim, the Dockerfile's bases;
#   2. the binaries built by `make` on this Debian 12 host are added to
#      that base, named to the Dockerfile by --build-arg JOBQ_BUILD_BASE:
#      its build stage then keeps them instead of compiling again;
#   3. `buildah bud` builds the Dockerfile: the runtime stage installs
#      scripts/runtime-deps.txt from the Debian archive, creates the jobq
#      user and its data directory, and sets the environment;
#   4. containers of the image, as the jobq user with the image's
#      environment: jobqd refuses a public address without TLS and tokens;
#      jobqd started as the image starts it answers the image's HEALTHCHECK
#      and runs a job to SUCCEEDED on its file log, then stops on SIGTERM.
# buildah's storage is private (vfs, under one temporary directory) and is
# removed at the end. Needs root.
#   deploy/check-image.sh [bin dir, default build/bin]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin}
[[ $(id -u) -eq 0 ]] || { echo "check-image: needs root (debootstrap, buildah)"; exit 1; }
command -v debootstrap >/dev/null && command -v buildah >/dev/null ||
  scripts/install-deps.sh scripts/test-deps.txt
for b in jobqd jobqctl jobq-bench; do
  [[ -x $bin/$b ]] || { echo "check-image: no $bin/$b (make build first)"; exit 1; }
done

# The mirror this machine already uses.
mirror=$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
           awk '{print $2}'; grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null |
           awk '{print $2}') | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /tmp/jobq-image.XXXXXX)
bah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
  "${bah[@]}" rm --all >/dev/null 2>&1 || true
  "${bah[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
step() { echo "check-image: $*"; }
fail() { echo "check-image: $*"; exit 1; }

step "debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; exit 1; }
tar -C "$work/root" -cf "$work/base.tar" .
rm -rf --one-file-system "$work/root"
base=$("${bah[@]}" from scratch)
"${bah[@]}" add "$base" "$work/base.tar" / >/dev/null
"${bah[@]}" commit -q "$base" docker.io/library/debian:bookworm >/dev/null
"${bah[@]}" tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
"${bah[@]}" rm "$base" >/dev/null
rm -f "$work/base.tar"

step "the binaries of $bin on the base"
binaries=$("${bah[@]}" from --pull=never docker.io/library/debian:bookworm)
"${bah[@]}" copy "$binaries" "$bin/jobqd" "$bin/jobqctl" "$bin/jobq-bench" /build/bin/ >/dev/null
"${bah[@]}" commit -q "$binaries" localhost/jobq-build-base:check >/dev/null
"${bah[@]}" rm "$binaries" >/dev/null

step "buildah bud the Dockerfile"
"${bah[@]}" bud --isolation chroot --pull=never --format docker \
  --build-arg JOBQ_BUILD_BASE=localhost/jobq-build-base:check \
  -t localhost/jobq:check . >"$work/bud.log" 2>&1 ||
  { tail -40 "$work/bud.log"; fail "buildah bud failed"; }
grep -qE "RUN .*(install-deps.sh scripts/deps.txt|make build)" "$work/bud.log" ||
  fail "the build stage's steps did not run"
# Given the binaries, the build stage installs and compiles nothing: the
# only package installation is the runtime stage's.
[[ $(grep -c "^installing: " "$work/bud.log") -eq 1 ]] ||
  { grep "^installing: " "$work/bud.log"; fail "the build stage installed or compiled"; }
grep -q "Building CXX" "$work/bud.log" && fail "the build stage compiled"
"${bah[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' localhost/jobq:check

# The image's configuration, as `docker run` would apply it.
config=$("${bah[@]}" inspect --type image localhost/jobq:check)
for want in '"User": "jobq"' '"jobqd"' 'JOBQ_DATA_DIR=/var/lib/jobq' \
            'JOBQ_LISTEN=0.0.0.0:7070' '"StopSignal": "SIGTERM"' \
            '"jobqctl",'; do
  grep -qF "$want" <<<"$config" || fail "the image's configuration lacks $want"
done

ctr=$("${bah[@]}" from -q localhost/jobq:check)
# A command in the container, as the image's user with the image's
# environment and the --env given. Ports are chosen by the kernel (port 0),
# as the container may share this host's network.
in_image() { "${bah[@]}" run --isolation chroot --user jobq "$@"; }

step "the image's public address without TLS and tokens is refused"
if out=$(in_image --env JOBQ_LISTEN=0.0.0.0:0 --env JOBQ_HTTP_LISTEN= \
           "$ctr" -- jobqd 2>&1); then
  fail "jobqd served 0.0.0.0 without TLS, tokens or --insecure"
fi
grep -q -- "--insecure" <<<"$out" || { echo "$out"; fail "no reason given"; }

step "jobqd in the image: health, a job to SUCCEEDED, SIGTERM"
# The image's ENTRYPOINT, started in the background of a shell that then
# plays the operator with the image's jobqctl (its HEALTHCHECK command
# included) and stops it as `docker stop` would.
in_image --env JOBQ_LISTEN=127.0.0.1:0 --env JOBQ_HTTP_LISTEN=127.0.0.1:0 \
  "$ctr" -- sh -ec '
  jobqd 2>/tmp/jobqd.log &
  pid=$!
  trap "kill $pid 2>/dev/null || true; cat /tmp/jobqd.log" EXIT
  addr=""
  for _ in $(seq 200); do
    addr=$(grep -oE "listening on [0-9.]+:[0-9]+" /tmp/jobqd.log | cut -d" " -f3 || true)
    [ -n "$addr" ] && break
    kill -0 $pid
    sleep 0.05
  done
  [ -n "$addr" ] || { echo "jobqd did not start"; exit 1; }
  export JOBQ_ADDR=$addr
  jobqctl health --wait 30s >/dev/null
  jobqctl --timeout-ms 2000 health
  grep -q "\"level\":\"info\"" /tmp/jobqd.log || { echo "expected JSON logs"; exit 1; }
  [ "$(stat -c %u /var/lib/jobq/LOCK)" = 10001 ] || { echo "data not owned by jobq"; exit 1; }
  jobqctl submit --kind sleep --payload 10ms --wait
  jobqctl stats | grep -q "storage wal" || { echo "no durable storage"; exit 1; }
  kill -TERM $pid
  rc=0
  wait $pid || rc=$?
  trap - EXIT
  [ $rc -eq 0 ] || { cat /tmp/jobqd.log; echo "jobqd exited $rc"; exit 1; }
' || fail "jobqd from the image failed"
step "passed"
