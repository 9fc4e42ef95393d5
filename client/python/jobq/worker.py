"""An asyncio remote worker for jobqd's WorkerService.

    worker = jobq.Worker("127.0.0.1:7070", queues=["default"], concurrency=100)

    @worker.handler("resize")
    async def resize(job: jobq.AssignedJob) -> bytes:
        await job.progress(0.5, "half way")
        return b"done"

    asyncio.run(worker.run())

The protocol (proto/jobq/v1/jobq.proto, WorkerService): the worker opens
Work and says hello (its id, kinds, queues, concurrency); jobqd welcomes it
with the lease and the heartbeat interval, then pushes up to `concurrency`
jobs, each under a lease that any message from the worker renews. Results
and progress go back on the same stream; an idle worker sends an empty
message every heartbeat interval.

- A handler returning a value succeeds the attempt (bytes as they are, str
  as UTF-8, anything else as JSON); raising fails it with the exception's
  message (jobq.PermanentError: no retry). Plain functions run on a thread.
- A job that jobqd revokes (cancelled, timed out, lease lost) has its
  handler's task cancelled: the handler sees asyncio.CancelledError.
- jobqd's drain (it is shutting down) or stop(): no more jobs are taken,
  the running handlers finish, their results go out, and run() returns.
- The stream breaking (jobqd restarting, the network) is not the end: the
  worker reconnects with exponential backoff and jitter, says hello again
  under the same id, and delivers the results of jobs that finished while
  it was away. jobqd takes those whose leases still hold; a result it
  refuses (the lease is gone and the job was given to another run) is
  logged and dropped.
- Several addresses ("a:7070,b:7070" or a list) name a cluster's nodes:
  the stream opens on the leader. A standby's refusal that names the
  leader is followed at once; any other UNAVAILABLE moves on to the next
  address after the backoff (cluster.py).
Thread: one event loop; run() and the handlers run on it.
"""

import asyncio
import inspect
import logging

import grpc

from jobq import errors
from jobq.cluster import Cluster, FollowOnce
from jobq.connect import Backoff, aio_channel, metadata
from jobq.types import _time, decode_json, encode_payload
from jobq.v1 import jobq_pb2 as pb
from jobq.v1 import jobq_pb2_grpc as pb_grpc

log = logging.getLogger("jobq.worker")

# Stream ends after which the worker says hello again. Any other status
# (a bad hello, a refused token) is the caller's to see.
_RECONNECT = errors.RETRYABLE | {grpc.StatusCode.ALREADY_EXISTS,
                                 grpc.StatusCode.CANCELLED,
                                 grpc.StatusCode.OK}


class AssignedJob:
    """One job handed to a handler: id, attempt, kind, queue, payload
    (bytes), labels, lease_expires_at, timeout (seconds or None) and
    parents (the results of the jobs it depends on, by job id)."""

    def __init__(self, worker, a):
        self._worker = worker
        self.proto = a
        self.id = a.job_id
        self.attempt = a.attempt
        self.kind = a.kind
        self.queue = a.queue
        self.payload = a.payload
        self.labels = dict(a.labels)
        self.parents = {p.job_id: p.result for p in a.parents}
        self.lease_expires_at = _time(a.lease_expires_at)
        self.timeout = (a.timeout.seconds + a.timeout.nanos / 1e9
                        if a.HasField("timeout") else None)
        self.revoked = False

    @property
    def key(self):
        return (self.id, self.attempt)

    @property
    def text(self):
        return self.payload.decode(errors="replace")

    def json(self):
        """The payload decoded as JSON."""
        return decode_json(self.payload)

    async def progress(self, fraction, message=""):
        """Reports how far the job has got (0 to 1); watchers see it."""
        self._worker._send_progress(self, fraction, message)


class _Held:
    def __init__(self, job, task):
        self.job = job
        self.task = task


class Worker:
    """A remote worker: `address` host:port, or the nodes of a cluster as
    "host:port,host:port" or a list, whose leader it follows; `queues` it
    takes jobs from (empty: all); `concurrency` jobs at once; `worker_id`
    (empty: jobqd names it); `token`, `tls`, `channel` as for jobq.Client
    (a given channel is not closed by the worker); `reconnect_on_drain`
    keeps the worker across a graceful jobqd restart too (by default a
    drain ends run()). Callbacks, called on the loop: `on_welcome(worker)`
    for each welcome (the first and every reconnect), `on_disconnect(worker,
    error)` when a stream breaks, `on_refused(refused_result)` for a result
    jobqd did not take."""

    def __init__(self, address="127.0.0.1:7070", *, queues=(), concurrency=1,
                 worker_id="", token=None, tls=None, channel=None,
                 reconnect_on_drain=False, backoff=None, on_welcome=None,
                 on_disconnect=None, on_refused=None):
        self._cluster = Cluster(address, lambda a: aio_channel(a, tls),
                                channel)
        self.queues = list(queues)
        self.concurrency = concurrency
        self.worker_id = worker_id
        self._given_id = bool(worker_id)
        self._metadata = metadata(token)
        self._reconnect_on_drain = reconnect_on_drain
        self._backoff = backoff or Backoff()
        self._handlers = {}
        self._on_welcome = on_welcome
        self._on_disconnect = on_disconnect
        self._on_refused = on_refused
        self._held = {}        # (job id, attempt) -> _Held.
        self._unsent = []      # WorkResults not yet written to a stream.
        self._outbox = None    # asyncio.Queue of the live session.
        self._heartbeat = 10.0
        self._stopping = False
        self._drained = False
        self._wake = asyncio.Event()
        self.welcomed = asyncio.Event()  # Set while a stream is welcomed.
        self.sessions = 0      # Welcomes received (1 + reconnects).
        self.done = 0          # Handler runs finished.
        self.refused = 0       # Results jobqd did not take.

    @property
    def address(self):
        """The address taken for the leader now."""
        return self._cluster.leader

    @property
    def addresses(self):
        """Every node's address known: those given, then leaders named."""
        return list(self._cluster.addresses)

    def handler(self, kind):
        """Decorator: `fn(job)` runs the jobs of `kind`."""
        def register(fn):
            self._handlers[kind] = fn
            return fn
        return register

    def stop(self):
        """Takes no more jobs; run() returns once the running ones have
        been reported."""
        if self._stopping:
            return
        self._stopping = True
        self._put(pb.WorkerMessage(draining=True))
        self._wake.set()
        self._maybe_finish()

    async def run(self):
        """Works until stop() or jobqd's drain; reconnects when the stream
        breaks. Raises jobq.Error for a refusal no retry cures."""
        if not self._handlers:
            raise ValueError("jobq.Worker: register a handler first")
        follow = FollowOnce()
        try:
            while True:
                address = self._cluster.leader
                leader = None
                sessions = self.sessions
                try:
                    finished = await self._session(
                        self._cluster.stub(pb_grpc.WorkerServiceStub, address))
                    if finished:
                        return
                    log.warning("jobq worker %s: jobqd ended the stream; "
                                "reconnecting", self.worker_id)
                except grpc.RpcError as e:
                    if e.code() not in _RECONNECT:
                        raise errors.from_rpc(e) from None
                    if e.code() == grpc.StatusCode.ALREADY_EXISTS and \
                            not self._given_id:
                        self.worker_id = ""  # jobqd gave the name away.
                    if e.code() == grpc.StatusCode.UNAVAILABLE:
                        leader = self._cluster.failed(address, e)
                    log.warning("jobq worker %s: stream to %s broke (%s: %s); "
                                "reconnecting to %s", self.worker_id, address,
                                e.code().name, e.details(),
                                self._cluster.leader)
                    broke = e
                except asyncio.InvalidStateError as e:
                    # A write to a call that had already ended (with OK).
                    log.warning("jobq worker %s: stream ended; reconnecting",
                                self.worker_id)
                    broke = e
                else:
                    broke = None
                finally:
                    self.welcomed.clear()
                    self._close_session()
                if self._on_disconnect is not None:
                    self._on_disconnect(self, broke)
                if self._stopping and not self._held:
                    return
                if follow.now(leader, address, self.sessions != sessions):
                    continue
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(),
                                           self._backoff.next())
                except asyncio.TimeoutError:
                    pass
        finally:
            for held in list(self._held.values()):
                held.task.cancel()
            for channel in self._cluster.release():
                await channel.close()

    async def _session(self, stub):
        """One Work stream; True when the worker is done (drained or
        stopped, everything reported)."""
        call = stub.Work(metadata=self._metadata)
        self._outbox = asyncio.Queue()
        if self._stopping:
            self._put(pb.WorkerMessage(draining=True))
        try:
            await call.write(pb.WorkerMessage(hello=pb.WorkerHello(
                worker_id=self.worker_id, kinds=list(self._handlers),
                queues=self.queues, concurrency=self.concurrency)))
        except asyncio.InvalidStateError:
            pass  # The call has ended already (refused): read() says how.
        writer = asyncio.create_task(self._write(call))
        try:
            while True:
                m = await call.read()
                if m is grpc.aio.EOF:
                    break
                self._on_message(m)
            code = await call.code()
            if code != grpc.StatusCode.OK:
                raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(),
                                           grpc.aio.Metadata(),
                                           await call.details())
            return (self._stopping or (self._drained and
                                       not self._reconnect_on_drain)) \
                and not self._held and not self._unsent
        finally:
            writer.cancel()
            try:
                await writer
            except (asyncio.CancelledError, grpc.RpcError):
                pass
            call.cancel()

    def _on_message(self, m):
        if m.HasField("welcome"):
            self.worker_id = m.welcome.worker_id
            hb = m.welcome.heartbeat_interval
            seconds = hb.seconds + hb.nanos / 1e9
            if seconds > 0:
                self._heartbeat = seconds
            self.sessions += 1
            self._backoff.reset()
            log.info("jobq worker %s: connected to jobqd", self.worker_id)
            if self._unsent:
                # Jobs that finished while the worker was away.
                log.info("jobq worker %s: delivering %d late results",
                         self.worker_id, len(self._unsent))
                late, self._unsent = self._unsent, []
                self._put(pb.WorkerMessage(results=late))
            self.welcomed.set()
            if self._on_welcome is not None:
                self._on_welcome(self)
        for r in m.revoked:
            held = self._held.pop((r.job_id, r.attempt), None)
            if held is not None:
                held.job.revoked = True
                held.task.cancel()
                log.info("jobq worker %s: job %s attempt %d revoked: %s",
                         self.worker_id, r.job_id, r.attempt, r.reason)
        for r in m.refused:
            self.refused += 1
            log.warning("jobq worker %s: jobqd refused the result of job %s "
                        "attempt %d: %s", self.worker_id, r.job_id, r.attempt,
                        r.reason)
            if self._on_refused is not None:
                self._on_refused(r)
        for a in m.jobs:
            job = AssignedJob(self, a)
            task = asyncio.create_task(self._run_job(job))
            self._held[job.key] = _Held(job, task)
        if m.drain:
            self._drained = True
            if not self._reconnect_on_drain:
                self._stopping = True
        self._maybe_finish()

    async def _run_job(self, job):
        fn = self._handlers.get(job.kind)
        result = pb.WorkResult(job_id=job.id, attempt=job.attempt)
        try:
            if fn is None:
                raise errors.PermanentError(f"no handler for kind {job.kind}")
            if inspect.iscoroutinefunction(fn):
                out = await fn(job)
            else:
                out = await asyncio.to_thread(fn, job)
                if inspect.isawaitable(out):
                    out = await out
            result.success = True
            result.result = encode_payload(out)
        except asyncio.CancelledError:
            if job.revoked:
                self.done += 1
                return  # jobqd no longer wants its result.
            raise
        except errors.PermanentError as e:
            result.error = str(e) or "permanent failure"
            result.permanent = True
        except Exception as e:  # noqa: BLE001 - any failure is reported.
            result.error = str(e) or type(e).__name__
        self.done += 1
        held = self._held.get(job.key)
        if held is None or held.job is not job:
            return  # Revoked meanwhile.
        del self._held[job.key]
        if self._outbox is not None and self.welcomed.is_set():
            self._put(pb.WorkerMessage(results=[result]))
        else:
            self._unsent.append(result)
        self._maybe_finish()

    def _send_progress(self, job, fraction, message):
        if job.key not in self._held or self._outbox is None:
            return
        self._put(pb.WorkerMessage(progress=[pb.WorkProgress(
            job_id=job.id, attempt=job.attempt, fraction=fraction,
            message=message)]))

    def _put(self, message):
        if self._outbox is not None:
            self._outbox.put_nowait(message)
        else:
            self._unsent.extend(message.results)

    def _maybe_finish(self):
        """Once stopping with nothing held, the writer half-closes."""
        if self._stopping and not self._held and self._outbox is not None:
            self._outbox.put_nowait(None)

    async def _write(self, call):
        """Writes what the outbox holds, packed into one message; a
        heartbeat when idle; half-closes on None."""
        outbox = self._outbox
        while True:
            try:
                first = await asyncio.wait_for(outbox.get(), self._heartbeat)
            except asyncio.TimeoutError:
                first = pb.WorkerMessage()
            batch, finish = pb.WorkerMessage(), first is None
            if first is not None:
                batch.MergeFrom(first)
            while not outbox.empty():
                m = outbox.get_nowait()
                if m is None:
                    finish = True
                else:
                    batch.MergeFrom(m)
            try:
                if batch.ByteSize() > 0 or not finish:
                    await call.write(batch)
                if finish:
                    await call.done_writing()
                    return
            except (grpc.RpcError, asyncio.InvalidStateError) as e:
                # The stream broke: keep the results for the next one.
                self._unsent.extend(batch.results)
                log.debug("jobq worker: write failed: %s", e)
                return
            except asyncio.CancelledError:
                # The session ended mid-write: the results may not have
                # gone out. Sent again, a taken one is only refused.
                self._unsent.extend(batch.results)
                raise

    def _close_session(self):
        """Results that were queued for a dead stream wait for the next."""
        outbox, self._outbox = self._outbox, None
        while outbox is not None and not outbox.empty():
            m = outbox.get_nowait()
            if m is not None:
                self._unsent.extend(m.results)
