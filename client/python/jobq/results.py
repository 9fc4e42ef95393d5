"""Awaiting the ends of many jobs over one Watch stream.

Every `await job.result()` of a Client registers its job id here. One
task keeps one Watch by job ids (terminal states only) open for all the
ids awaited; when ids are added it opens the stream again with the whole
set, after a short linger so that a burst of submits costs one reopen.
No end is missed: a watch by ids starts with each job's current state, so
a job that ended before (or while) the stream was reopened is reported by
the new stream's opening events.

A job that jobqd no longer knows (NOT_FOUND ends the whole stream) is
looked up alone with GetJob; its awaiters get NotFound, the others go on.
A broken connection (jobqd restarting) is retried with backoff, on the
cluster's leader: a standby's refusal that names the leader is followed at
once, any other UNAVAILABLE moves on to the next address (cluster.py).
Thread: the event loop of the Client.
"""

import asyncio
import logging

import grpc

from jobq import errors
from jobq.connect import Backoff
from jobq.types import TERMINAL
from jobq.v1 import jobq_pb2 as pb
from jobq.v1 import jobq_pb2_grpc as pb_grpc

log = logging.getLogger("jobq")

# How long a reopen waits for more ids to arrive: a burst of submits
# (asyncio.gather) then costs one reopen, not one per job.
LINGER = 0.005


class ResultWatch:
    def __init__(self, cluster, metadata):
        self._cluster = cluster
        self._metadata = metadata
        self._waiting = {}  # job id -> [Future of v1.JobEvent].
        self._changed = asyncio.Event()
        self._task = None
        self.opened = 0  # Watch streams opened, for tests and figures.

    async def wait(self, job_id):
        """The terminal JobEvent of `job_id`."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(job_id, []).append(future)
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            return await future
        finally:
            if not future.done() or future.cancelled():
                self._forget(job_id, future)

    def _forget(self, job_id, future):
        futures = self._waiting.get(job_id)
        if futures is None:
            return
        if future in futures:
            futures.remove(future)
        if not futures:
            del self._waiting[job_id]

    def _resolve(self, job_id, event=None, error=None):
        for future in self._waiting.pop(job_id, []):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(event)

    async def close(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for job_id in list(self._waiting):
            self._resolve(job_id, error=errors.Cancelled("client closed"))

    async def _run(self):
        backoff = Backoff()
        followed = False  # The last break named a new leader.
        while self._waiting:
            self._changed.clear()
            address = self._cluster.leader
            stub = self._cluster.stub(pb_grpc.JobServiceStub, address)
            call = stub.Watch(
                pb.WatchRequest(job_ids=list(self._waiting), states=TERMINAL),
                metadata=self._metadata)
            self.opened += 1
            reader = asyncio.create_task(self._read(call))
            # A read of a cancelled call may end in an odd exception
            # (grpc 1.51 raises UnboundLocalError): retrieved here, and only
            # looked at when the call was not cancelled.
            reader.add_done_callback(_retrieve)
            changed = asyncio.create_task(self._changed.wait())
            try:
                await asyncio.wait({reader, changed},
                                   return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                changed.cancel()
                reader.cancel()
                call.cancel()
                raise
            changed.cancel()
            if not reader.done():
                # More ids to watch: let others come in, then reopen.
                await asyncio.sleep(LINGER)
                call.cancel()
                reader.cancel()
                await asyncio.wait({reader})
                followed = False
                continue
            error = reader.exception() if not reader.cancelled() else None
            if error is None:
                backoff.reset()
                followed = False
                continue
            if not isinstance(error, grpc.RpcError):
                raise error
            code = error.code()
            if code == grpc.StatusCode.NOT_FOUND:
                await self._look_up_each()
                continue
            if code in errors.RETRYABLE:
                leader = None
                if code == grpc.StatusCode.UNAVAILABLE:
                    leader = self._cluster.failed(address, error)
                log.info("jobq: watch on %s broke (%s: %s); reconnecting "
                         "to %s", address, code.name, error.details(),
                         self._cluster.leader)
                # A new leader named is tried at once, but not twice in a
                # row: two nodes naming each other do not spin.
                if leader not in (None, address) and not followed:
                    followed = True
                    continue
                followed = False
                await asyncio.sleep(backoff.next())
                continue
            failure = errors.from_rpc(error)
            for job_id in list(self._waiting):
                self._resolve(job_id, error=failure)

    async def _read(self, call):
        async for response in call:
            for event in response.events:
                if event.state in TERMINAL:
                    self._resolve(event.job_id, event)

    async def _look_up_each(self):
        """After NOT_FOUND: resolves the ids that are gone or ended."""
        for job_id in list(self._waiting):
            try:
                job = await self._cluster.call(
                    pb_grpc.JobServiceStub, "GetJob",
                    pb.GetJobRequest(job_id=job_id), changes_state=False,
                    metadata=self._metadata)
            except grpc.RpcError as e:
                if e.code() in errors.RETRYABLE:
                    return
                self._resolve(job_id, error=errors.from_rpc(e))
                continue
            if job.state in TERMINAL:
                self._resolve(job_id, event_of_job(job))


def _retrieve(task):
    if not task.cancelled():
        task.exception()


def event_of_job(job):
    """A JobEvent with the state, result and timings of a Job."""
    return pb.JobEvent(job_id=job.id, queue=job.spec.queue, state=job.state,
                       attempt=job.attempt, at=job.finished_at,
                       result=job.result, error=job.error,
                       exit_code=job.exit_code, timings=job.timings)
