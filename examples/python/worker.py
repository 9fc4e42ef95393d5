#!/usr/bin/env python3
"""An asyncio jobq worker: serves the kind "py.resize", reporting progress
half way. It survives jobqd restarts: it reconnects and carries on.

    python3 examples/python/worker.py [--addr 127.0.0.1:7070]
    jobqctl submit --kind py.resize --payload '{"w": 640}' --wait
"""

import argparse
import asyncio
import logging

import jobq


def build(addr, concurrency):
    worker = jobq.Worker(addr, queues=["default"], concurrency=concurrency,
                         on_welcome=lambda w: print(
                             f"worker {w.worker_id} connected", flush=True))

    @worker.handler("py.resize")
    async def resize(job: jobq.AssignedJob) -> dict:
        size = job.json() or {}
        await job.progress(0.5, "half way")
        await asyncio.sleep(0.1)  # The work itself.
        return {"resized": size.get("w", 0) // 2}

    return worker


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:7070")
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(build(args.addr, args.concurrency).run())
