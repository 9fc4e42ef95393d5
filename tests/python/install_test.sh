#!/usr/bin/env bash
# The README's install command, for real and offline: a copy of
# client/python is installed with `pip install --no-build-isolation` into a
# venv made with --system-site-packages (Debian's grpcio and protobuf), and
# the installed package, stubs included, imports outside the source tree.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/client/python" "$tmp/python"
rm -rf "$tmp/python/build" "$tmp/python"/*.egg-info
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
JOBQ_PROTO_DIR="$src/proto" PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$tmp/venv/bin/pip" install -q --no-build-isolation "$tmp/python"
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import jobq, jobq.sync_worker, jobq_worker
from jobq.v1 import jobq_pb2, jobq_pb2_grpc
assert "site-packages" in jobq.__file__, jobq.__file__
assert "site-packages" in jobq_pb2.__file__, jobq_pb2.__file__
assert jobq.Spec("noop", payload={"a": 1}).proto.payload == b'{"a":1}'
assert jobq_worker.Worker is jobq.sync_worker.Worker
print("installed", jobq.__version__, "from", jobq.__file__)
PY
