#!/usr/bin/env python3
"""100 one-second jobs started together with asyncio.gather end in about one
second, not a hundred: jobqd's sleep handler waits on a timer, not a thread,
and the client awaits every result over one shared watch stream.

    python3 examples/python/gather.py [--addr 127.0.0.1:7070] [--jobs 100]

Prints each job's queue wait (started - ready), run time (finished -
started) and total (finished - submitted), then the wall time.
"""

import argparse
import asyncio
import time

import jobq


async def main(addr, jobs, duration):
    async with jobq.Client(addr) as c:
        start = time.monotonic()
        submitted = await asyncio.gather(
            *(c.submit("sleep", payload=duration) for _ in range(jobs)))
        await asyncio.gather(*(job.result() for job in submitted))
        wall = time.monotonic() - start
        print(f"{'job':16}  {'queue wait':>10}  {'run time':>10}  {'total':>10}")
        for job in submitted:
            print(f"{job.id:16}  {job.queue_wait * 1e3:8.2f}ms  "
                  f"{job.run_time:9.3f}s  {job.total:9.3f}s")
        print(f"{jobs} jobs of {duration} each: {wall:.3f} s in all, "
              f"{c.watch_streams_opened} watch stream(s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:7070")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--duration", default="1s")
    args = parser.parse_args()
    asyncio.run(main(args.addr, args.jobs, args.duration))
