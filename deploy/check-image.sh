#!/usr/bin/env bash
# Proves the Docker image's runtime stage without a Docker engine: builds a
# fresh Debian 12 root with debootstrap, performs the runtime stage's steps
# in it (the runtime packages from scripts/runtime-deps.txt, the binaries,
# the jobq user, /var/lib/jobq), starts jobqd there as the jobq user, and
# checks `jobqctl health` and a submitted job. Needs root.
#   deploy/check-image.sh [bin dir, default build/bin]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin}
[[ $(id -u) -eq 0 ]] || { echo "check-image: needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || scripts/install-deps.sh scripts/test-deps.txt

# The mirror this machine already uses.
mirror=$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
           awk '{print $2}'; grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null |
           awk '{print $2}') | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /tmp/jobq-image.XXXXXX)
chmod 755 "$root"  # The new root directory: readable by the jobq user.
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  umount "$root/proc" 2>/dev/null || true
  umount "$root/dev" 2>/dev/null || true
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "check-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log"; exit 1; }
rm -f "$root.log"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"

echo "check-image: the runtime stage"
mkdir -p "$root/tmp/jobq"
cp scripts/install-deps.sh scripts/runtime-deps.txt "$root/tmp/jobq/"
chroot "$root" /tmp/jobq/install-deps.sh /tmp/jobq/runtime-deps.txt \
  >"$root/install.log" 2>&1 || { tail -30 "$root/install.log"; exit 1; }
chroot "$root" sh -c 'rm -rf /var/lib/apt/lists/* /tmp/jobq &&
  useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/jobq \
    --shell /usr/sbin/nologin jobq &&
  mkdir -p /var/lib/jobq /etc/jobq && chown jobq:jobq /var/lib/jobq'
cp "$bin/jobqd" "$bin/jobqctl" "$bin/jobq-bench" "$root/usr/local/bin/"

echo "check-image: the image's public address without TLS and tokens is refused"
if out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin JOBQ_LISTEN=0.0.0.0:0 JOBQ_HTTP_LISTEN= \
    chroot --userspec=jobq:jobq "$root" /usr/local/bin/jobqd 2>&1); then
  echo "check-image: jobqd served 0.0.0.0 without TLS, tokens or --insecure"; exit 1
fi
grep -q -- "--insecure" <<<"$out" || { echo "$out"; echo "check-image: no reason given"; exit 1; }

echo "check-image: jobqd as the jobq user"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin JOBQ_LISTEN=127.0.0.1:0 JOBQ_HTTP_LISTEN=127.0.0.1:0 \
  JOBQ_DATA_DIR=/var/lib/jobq JOBQ_LOG_FORMAT=json \
  chroot --userspec=jobq:jobq "$root" /usr/local/bin/jobqd 2>"$root/jobqd.log" &
pid=$!
addr=""
for _ in $(seq 200); do
  addr=$(grep -oE 'listening on [0-9.]+:[0-9]+' "$root/jobqd.log" | awk '{print $3}' || true)
  [[ -n $addr ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
[[ -n $addr ]] || { cat "$root/jobqd.log"; echo "check-image: jobqd did not start"; exit 1; }
ctl() { env JOBQ_ADDR="$addr" chroot --userspec=jobq:jobq "$root" /usr/local/bin/jobqctl "$@"; }
# The log line gives the address; ready is the health check answering
# SERVING (after recovery), within a bound.
ctl health --wait 30s >/dev/null ||
  { cat "$root/jobqd.log"; echo "check-image: jobqd never reported SERVING"; exit 1; }
grep -q '"level":"info"' "$root/jobqd.log" || { echo "check-image: expected JSON logs"; exit 1; }
[[ $(stat -c %u "$root/var/lib/jobq/LOCK") == 10001 ]] || { echo "check-image: data not owned by jobq"; exit 1; }

# The image's HEALTHCHECK command, with JOBQ_ADDR as the image sets it.
ctl --timeout-ms 2000 health
ctl submit --kind sleep --payload 10ms --wait
ctl stats | grep -q "storage wal" || { echo "check-image: no durable storage"; exit 1; }

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
[[ $rc -eq 0 ]] || { cat "$root/jobqd.log"; echo "check-image: jobqd exited $rc"; exit 1; }
echo "check-image: passed"
