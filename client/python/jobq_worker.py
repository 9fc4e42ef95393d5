"""A jobq remote worker in Python.

Connects to jobqd's WorkerService, runs a handler for every job of the
kinds it serves, and reports each outcome. Leases are kept: any message is
a heartbeat, and an idle worker sends an empty one at the interval jobqd
asks for. Needs Debian's python3-grpcio and python3-protobuf, and the stubs
generated from proto/jobq/v1/jobq.proto (see README.md).

    def resize(job):
        job.progress(0.5, "decoded")
        return b"done"

    Worker("127.0.0.1:7070", kinds=["resize"], handler=resize).run()

A handler returns the result (bytes or str) or raises: any exception fails
the job under its retry policy, PermanentError sends it to DEAD at once.
"""

import queue
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

from jobq.v1 import jobq_pb2, jobq_pb2_grpc


class PermanentError(Exception):
    """A failure that no retry will cure: the job goes to DEAD."""


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

    def progress(self, fraction, message=""):
        """Reports how far the job has got (0 to 1); watchers see it."""
        self._worker._send(jobq_pb2.WorkerMessage(progress=[
            jobq_pb2.WorkProgress(job_id=self.id, attempt=self.attempt,
                                  fraction=fraction, message=message)]))

    @property
    def revoked(self):
        """True once jobqd has taken the job back: stop; the result is dropped."""
        return (self.id, self.attempt) in self._worker._revoked


class Worker:
    def __init__(self, address, kinds, handler, queues=(), concurrency=1,
                 worker_id="", channel=None, on_welcome=None, token=None):
        self.address = address
        self.kinds = list(kinds)
        self.queues = list(queues)
        self.concurrency = concurrency
        self.worker_id = worker_id
        self.handler = handler
        self.on_welcome = on_welcome
        # Sent as "authorization: Bearer <token>" when jobqd requires tokens.
        self._metadata = (("authorization", "Bearer " + token),) if token else ()
        self._channel = channel or grpc.insecure_channel(address)
        self._outbox = queue.Queue()
        self._lock = threading.Lock()
        self._held = set()
        self._revoked = set()
        self._stopping = False
        self._finished = False
        self._heartbeat = 10.0
        self.done = 0
        self.refused = 0

    def stop(self):
        """Asks for no more jobs; run() returns once the held ones are reported."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        self._send(jobq_pb2.WorkerMessage(draining=True))
        self._maybe_finish()

    def run(self):
        """Works until stop(), a drain by jobqd, or an error (raised)."""
        stub = jobq_pb2_grpc.WorkerServiceStub(self._channel)
        responses = stub.Work(self._requests(), metadata=self._metadata)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                for message in responses:
                    self._on_message(message, pool)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.OK:
                    raise

    def _requests(self):
        yield jobq_pb2.WorkerMessage(hello=jobq_pb2.WorkerHello(
            worker_id=self.worker_id, kinds=self.kinds, queues=self.queues,
            concurrency=self.concurrency))
        while True:
            try:
                message = self._outbox.get(timeout=self._heartbeat)
            except queue.Empty:
                message = jobq_pb2.WorkerMessage()  # A heartbeat.
            if message is None:
                return  # Half-close: jobqd ends the stream.
            yield message

    def _send(self, message):
        self._outbox.put(message)

    def _on_message(self, message, pool):
        if message.HasField("welcome"):
            self.worker_id = message.welcome.worker_id
            interval = message.welcome.heartbeat_interval
            seconds = interval.seconds + interval.nanos / 1e9
            if seconds > 0:
                self._heartbeat = seconds
            if self.on_welcome:
                self.on_welcome(self)
        for r in message.revoked:
            with self._lock:
                self._revoked.add((r.job_id, r.attempt))
                self._held.discard((r.job_id, r.attempt))
        self.refused += len(message.refused)
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
            if not self._stopping or self._held or self._finished:
                return
            self._finished = True
        self._outbox.put(None)


def stop_on_signals(worker):
    """SIGINT and SIGTERM stop the worker gracefully."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.stop())
