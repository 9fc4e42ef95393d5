"""A jobq remote worker in plain (blocking) Python, with a thread pool.

Connects to jobqd's WorkerService, runs a handler for every job of the
kinds it serves, and reports each outcome. Leases are kept: any message is
a heartbeat, and an idle worker sends an empty one at the interval jobqd
asks for. When the stream breaks (jobqd restarting, the network) the
worker reconnects with exponential backoff and jitter, says hello again
under the same id, and delivers the results of jobs that finished while it
was away; a result jobqd refuses (its lease is gone) is logged and dropped.

    def resize(job):
        job.progress(0.5, "decoded")
        return b"done"

    Worker("127.0.0.1:7070", kinds=["resize"], handler=resize).run()

Several addresses ("a:7070,b:7070" or a list) name a cluster's nodes: the
worker works for the leader, following a standby's refusal that names it
at once and moving on to the next address after any other UNAVAILABLE
(jobq/cluster.py).

A handler returns the result (bytes or str) or raises: any exception fails
the job under its retry policy, PermanentError sends it to DEAD at once.
(jobq.Worker is the asyncio worker; this one suits blocking handlers.)
"""

import logging
import queue
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

from jobq.cluster import Cluster, FollowOnce
from jobq.connect import Backoff, sync_channel
from jobq.errors import RETRYABLE, PermanentError
from jobq.v1 import jobq_pb2, jobq_pb2_grpc

log = logging.getLogger("jobq.sync_worker")

_RECONNECT = RETRYABLE | {grpc.StatusCode.ALREADY_EXISTS,
                          grpc.StatusCode.CANCELLED}

__all__ = ["Job", "PermanentError", "Worker", "stop_on_signals"]


class Job:
    """One job handed to the handler."""

    def __init__(self, worker, assigned):
        self._worker = worker
        self.assigned = assigned
        self.id = assigned.job_id
        self.attempt = assigned.attempt
        self.kind = assigned.kind
        self.queue = assigned.queue
        self.payload = assigned.payload
        self.labels = dict(assigned.labels)
        # The results of the jobs it depends on, by job id.
        self.parents = {p.job_id: p.result for p in assigned.parents}

    def progress(self, fraction, message=""):
        """Reports how far the job has got (0 to 1); watchers see it."""
        self._worker._send(jobq_pb2.WorkerMessage(progress=[
            jobq_pb2.WorkProgress(job_id=self.id, attempt=self.attempt,
                                  fraction=fraction, message=message)]))

    @property
    def revoked(self):
        """True once jobqd has taken the job back: stop; the result is dropped."""
        return (self.id, self.attempt) in self._worker._revoked


class _Session:
    """One Work stream's outbox. Thread: any (the queue locks)."""

    def __init__(self):
        self.outbox = queue.Queue()
        self.closed = False


class Worker:
    def __init__(self, address, kinds, handler, queues=(), concurrency=1,
                 worker_id="", channel=None, on_welcome=None, token=None,
                 backoff=None):
        # A given channel is used as it is; else one per node, insecure.
        self._cluster = Cluster(
            address, lambda a: sync_channel(a, tls=False), channel)
        self.kinds = list(kinds)
        self.queues = list(queues)
        self.concurrency = concurrency
        self.worker_id = worker_id
        self._given_id = bool(worker_id)
        self.handler = handler
        self.on_welcome = on_welcome
        # Sent as "authorization: Bearer <token>" when jobqd requires tokens.
        self._metadata = (("authorization", "Bearer " + token),) if token else ()
        self._backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._session = None    # The live _Session; guarded by _lock.
        self._welcomed = False  # Guarded by _lock.
        self._unsent = []       # WorkResults for the next stream; _lock.
        self._held = set()
        self._revoked = set()
        self._stopping = False
        self._heartbeat = 10.0
        self.sessions = 0
        self.done = 0
        self.refused = 0

    @property
    def address(self):
        """The address taken for the leader now."""
        return self._cluster.leader

    def stop(self):
        """Asks for no more jobs; run() returns once the held ones are reported."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._send(jobq_pb2.WorkerMessage(draining=True))
        self._wake.set()
        self._maybe_finish()

    def run(self):
        """Works until stop() or a drain by jobqd, reconnecting when the
        stream breaks; raises grpc.RpcError for a refusal no retry cures."""
        follow = FollowOnce()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            while True:
                address = self._cluster.leader
                leader = None
                sessions = self.sessions
                try:
                    self._work(self._cluster.stub(
                        jobq_pb2_grpc.WorkerServiceStub, address), pool)
                    log.info("jobq worker %s: stream ended", self.worker_id)
                except grpc.RpcError as e:
                    if e.code() not in _RECONNECT:
                        raise
                    if (e.code() == grpc.StatusCode.ALREADY_EXISTS
                            and not self._given_id):
                        self.worker_id = ""
                    if e.code() == grpc.StatusCode.UNAVAILABLE:
                        leader = self._cluster.failed(address, e)
                    log.warning("jobq worker %s: stream to %s broke (%s); "
                                "reconnecting to %s", self.worker_id, address,
                                e.code().name, self._cluster.leader)
                finally:
                    self._end_session()
                with self._lock:
                    if self._stopping and not self._held and not self._unsent:
                        return
                if follow.now(leader, address, self.sessions != sessions):
                    continue
                self._wake.wait(self._backoff.next())
                self._wake.clear()

    def _work(self, stub, pool):
        session = _Session()
        with self._lock:
            self._session = session
            stopping = self._stopping
        if stopping:
            session.outbox.put(jobq_pb2.WorkerMessage(draining=True))
        responses = stub.Work(self._requests(session), metadata=self._metadata)
        for message in responses:
            self._on_message(message, pool)

    def _end_session(self):
        with self._lock:
            session, self._session = self._session, None
            self._welcomed = False
            if session is None:
                return
            session.closed = True
            while not session.outbox.empty():
                m = session.outbox.get_nowait()
                if m is not None:
                    self._unsent.extend(m.results)
        session.outbox.put(None)  # Wakes its request generator.

    def _requests(self, session):
        yield jobq_pb2.WorkerMessage(hello=jobq_pb2.WorkerHello(
            worker_id=self.worker_id, kinds=self.kinds, queues=self.queues,
            concurrency=self.concurrency))
        while True:
            try:
                message = session.outbox.get(timeout=self._heartbeat)
            except queue.Empty:
                message = jobq_pb2.WorkerMessage()  # A heartbeat.
            if message is None or session.closed:
                if message is not None:
                    with self._lock:
                        self._unsent.extend(message.results)
                return  # Half-close: jobqd ends the stream.
            yield message

    def _send(self, message):
        with self._lock:
            if self._session is not None and self._welcomed:
                self._session.outbox.put(message)
            else:
                self._unsent.extend(message.results)

    def _on_message(self, message, pool):
        if message.HasField("welcome"):
            self.worker_id = message.welcome.worker_id
            interval = message.welcome.heartbeat_interval
            seconds = interval.seconds + interval.nanos / 1e9
            if seconds > 0:
                self._heartbeat = seconds
            self.sessions += 1
            self._backoff.reset()
            with self._lock:
                self._welcomed = True
                late, self._unsent = self._unsent, []
                if late:
                    log.info("jobq worker %s: delivering %d late results",
                             self.worker_id, len(late))
                    self._session.outbox.put(
                        jobq_pb2.WorkerMessage(results=late))
            if self.on_welcome:
                self.on_welcome(self)
        for r in message.revoked:
            with self._lock:
                self._revoked.add((r.job_id, r.attempt))
                self._held.discard((r.job_id, r.attempt))
        for r in message.refused:
            self.refused += 1
            log.warning("jobq worker %s: jobqd refused the result of job %s "
                        "attempt %d: %s", self.worker_id, r.job_id, r.attempt,
                        r.reason)
        for assigned in message.jobs:
            with self._lock:
                self._held.add((assigned.job_id, assigned.attempt))
            pool.submit(self._run_job, Job(self, assigned))
        if message.drain:
            self.stop()
        self._maybe_finish()

    def _run_job(self, job):
        result = jobq_pb2.WorkResult(job_id=job.id, attempt=job.attempt)
        try:
            out = self.handler(job)
            result.success = True
            if isinstance(out, str):
                out = out.encode()
            result.result = out or b""
        except PermanentError as e:
            result.error = str(e) or "permanent failure"
            result.permanent = True
        except Exception as e:  # noqa: BLE001 - any failure is reported.
            result.error = str(e) or type(e).__name__
        with self._lock:
            self.done += 1
            key = (job.id, job.attempt)
            if key not in self._held:
                return  # Revoked meanwhile.
            self._held.discard(key)
        self._send(jobq_pb2.WorkerMessage(results=[result]))
        self._maybe_finish()

    def _maybe_finish(self):
        with self._lock:
            if not self._stopping or self._held or self._session is None \
                    or not self._welcomed:
                return
            self._session.outbox.put(None)


def stop_on_signals(worker):
    """SIGINT and SIGTERM stop the worker gracefully."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.stop())
