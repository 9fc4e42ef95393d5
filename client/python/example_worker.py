#!/usr/bin/env python3
"""An example jobq worker: serves the kind "py.upper" (and any other named
with --kind), answering each job with its payload in upper case. A payload
of "fail" fails the job, "fatal" fails it for good, "sleep N" sleeps N
seconds first.

    python3 example_worker.py --addr 127.0.0.1:7070 --concurrency 4
"""

import argparse
import os
import sys
import time

import grpc

from jobq.sync_worker import PermanentError, Worker, stop_on_signals


def upper(job):
    text = job.payload.decode(errors="replace")
    if text == "fail":
        raise RuntimeError("asked to fail")
    if text == "fatal":
        raise PermanentError("asked to fail for good")
    if text.startswith("sleep "):
        job.progress(0.0, "sleeping")
        time.sleep(float(text.split()[1]))
    job.progress(0.5, "upper-casing")
    return text.upper()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:7070",
                        help="jobqd's host:port, or a cluster's nodes "
                             "separated by commas (one with --tls-*)")
    parser.add_argument("--kind", action="append", default=None)
    parser.add_argument("--queue", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--id", default="")
    parser.add_argument("--tls-ca", help="PEM CA of jobqd's certificate")
    parser.add_argument("--tls-cert", help="PEM client certificate (mTLS)")
    parser.add_argument("--tls-key", help="PEM key of --tls-cert")
    parser.add_argument("--token-file",
                        help="file whose first line is the bearer token "
                             "(default: env JOBQ_TOKEN)")
    args = parser.parse_args()
    token = os.environ.get("JOBQ_TOKEN")
    if args.token_file:
        with open(args.token_file) as f:
            token = f.readline().strip()
    channel = None
    if args.tls_ca or args.tls_cert:
        if "," in args.addr:
            parser.error("--tls-ca and --tls-cert take one --addr")

        def read(path):
            with open(path, "rb") as f:
                return f.read()
        channel = grpc.secure_channel(args.addr, grpc.ssl_channel_credentials(
            root_certificates=read(args.tls_ca) if args.tls_ca else None,
            private_key=read(args.tls_key) if args.tls_key else None,
            certificate_chain=read(args.tls_cert) if args.tls_cert else None))
    worker = Worker(args.addr, kinds=args.kind or ["py.upper"], handler=upper,
                    queues=args.queue, concurrency=args.concurrency,
                    worker_id=args.id, channel=channel, token=token,
                    on_welcome=lambda w: print(f"worker {w.worker_id} connected",
                                               flush=True))
    stop_on_signals(worker)
    worker.run()
    print(f"worker {worker.worker_id} stopped after {worker.done} jobs",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
