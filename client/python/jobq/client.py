"""The asyncio client of jobqd's JobService, over grpc.aio.

    async with jobq.Client("127.0.0.1:7070") as c:
        job = await c.submit("sleep", payload=b"1s")
        result = await job.result()      # bytes; JobFailed on DEAD/CANCELLED
        r = await c.run("noop")           # submit and await the result

All calls of one Client share one channel, and every awaited result shares
one Watch stream (see results.py). Errors are jobq.Error subclasses
carrying the gRPC status code and message.

Several addresses ("a:7070,b:7070,c:7070" or a list) name the nodes of a
cluster: calls go to the leader and follow it when a standby refuses them
or a node cannot be reached (cluster.py says when a call is tried again).
Thread: one event loop; create and use the Client inside it.
"""

import asyncio
import functools

import grpc

from jobq import errors
from jobq.cluster import Cluster
from jobq.connect import aio_channel, metadata
from jobq.results import ResultWatch
from jobq.types import Event, State, Timings, _time, decode_json, make_spec
from jobq.v1 import jobq_pb2 as pb
from jobq.v1 import jobq_pb2_grpc as pb_grpc


def _typed(fn):
    """Turns a grpc.RpcError raised by `fn` into a typed jobq.Error."""
    @functools.wraps(fn)
    async def call(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except grpc.RpcError as e:
            raise errors.from_rpc(e) from None
    return call


class Result(bytes):
    """A job's result as known now (bytes), which, called, waits for the
    job's end: `job.result` is the bytes, `await job.result()` the final
    ones (or jobq.JobFailed)."""

    def __new__(cls, data, job):
        self = super().__new__(cls, data)
        self._job = job
        return self

    def __call__(self):
        return self._job._final_result()


class Job:
    """A job: its id and what is known of it.

    Fields: id, state (jobq.State), attempt, result (bytes), error, kind,
    queue, and the timings of the latest run in seconds: queue_wait,
    run_time, total. `await job.result()` waits for its end.
    """

    def __init__(self, client, job_id, duplicate=False):
        self._client = client
        self.id = job_id
        self.duplicate = duplicate
        self.state = State.UNSPECIFIED
        self.attempt = 0
        self.kind = ""
        self.queue = ""
        self.error = ""
        self.exit_code = 0
        self.result = Result(b"", self)
        self.timings = Timings()
        self.created_at = self.started_at = self.finished_at = None
        self.labels = {}
        self.progress = None
        self.proto = None

    @property
    def queue_wait(self):
        return self.timings.queue_wait

    @property
    def run_time(self):
        return self.timings.run_time

    @property
    def total(self):
        return self.timings.total

    @property
    def done(self):
        return self.state.terminal

    def _update_from_job(self, j):
        self.proto = j
        self.state = State(j.state)
        self.attempt = j.attempt
        self.kind = j.spec.kind
        self.queue = j.spec.queue
        self.result = Result(j.result, self)
        self.error = j.error
        self.exit_code = j.exit_code
        self.timings = Timings(j.timings)
        self.created_at = _time(j.created_at)
        self.started_at = _time(j.started_at)
        self.finished_at = _time(j.finished_at)
        self.labels = dict(j.spec.labels)
        self.progress = Event(pb.JobEvent(progress=j.progress)).progress \
            if j.HasField("progress") else None
        return self

    def _update_from_event(self, e):
        self.state = State(e.state)
        self.attempt = e.attempt
        self.queue = e.queue or self.queue
        self.result = Result(e.result, self)
        self.error = e.error
        self.exit_code = e.exit_code
        self.timings = Timings(e.timings)
        self.finished_at = _time(e.at) if self.state.terminal else None
        return self

    async def wait(self):
        """Waits for the job to end (any terminal state); returns self."""
        if not self.state.terminal:
            self._update_from_event(await self._client._results.wait(self.id))
        return self

    async def _final_result(self):
        """The job's result (bytes) once it has SUCCEEDED; raises
        jobq.JobFailed (with this job) when it ended DEAD or CANCELLED."""
        try:
            await self.wait()
        except grpc.RpcError as e:
            raise errors.from_rpc(e) from None
        if self.state != State.SUCCEEDED:
            raise errors.JobFailed(self)
        return bytes(self.result)

    async def json(self):
        """The result, once SUCCEEDED, decoded as JSON."""
        return decode_json(await self._final_result())

    async def refresh(self):
        """Reads the job's current state from jobqd."""
        return self._update_from_job(await self._client._get(self.id))

    async def cancel(self):
        return self._update_from_job(await self._client._cancel(self.id))

    def __repr__(self):
        return f"Job({self.id}, {self.state.name}, attempt={self.attempt})"


class _SubmitBatcher:
    """Submits made in the same turn of the event loop (asyncio.gather of
    many submits) go out as one SubmitBatch call: gRPC costs the client
    about a millisecond per unary call in Python, a batch about that per
    thousand jobs. A lone submit is a plain Submit. Each caller gets its own
    job's result or typed error, as from Submit.
    Thread: the event loop."""

    MAX = 1000  # Jobs per SubmitBatch (jobqd takes up to 10,000).

    def __init__(self, client):
        self._client = client
        self._pending = []  # (JobSpec, Future of SubmitResult).

    def submit(self, spec):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((spec, future))
        if len(self._pending) >= self.MAX:
            self._flush()
        return future

    def _flush(self):
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _send(self, batch):
        c = self._client
        try:
            if len(batch) == 1:
                spec, future = batch[0]
                r = await c._call("Submit", pb.SubmitRequest(job=spec),
                                  changes_state=True)
                results = [pb.SubmitResult(job_id=r.job_id,
                                           duplicate=r.duplicate)]
            else:
                r = await c._call("SubmitBatch", pb.SubmitBatchRequest(
                    jobs=[spec for spec, _ in batch]), changes_state=True)
                results = r.results
        except grpc.RpcError as e:
            for _, future in batch:
                if not future.done():
                    future.set_exception(errors.from_rpc(e))
            return
        for (_, future), res in zip(batch, results):
            if future.done():
                continue
            if res.code != 0:
                future.set_exception(
                    errors.from_code_number(res.code, res.message))
            else:
                future.set_result(res)


class Client:
    """A connection to jobqd: `address` host:port, or the nodes of a
    cluster as "host:port,host:port" or a list, whose leader the calls
    follow; `token` a bearer token (else $JOBQ_TOKEN); `tls` a jobq.TLS,
    True for the system roots, or None to follow $JOBQ_TLS_*; `timeout`
    seconds for each unary call (its tries on several nodes included);
    `channel` a grpc.aio channel to use instead (then no leader is
    followed)."""

    def __init__(self, address="127.0.0.1:7070", *, token=None, tls=None,
                 timeout=30.0, channel=None):
        self._cluster = Cluster(address, lambda a: aio_channel(a, tls),
                                channel)
        self._channel = channel  # Closed with the Client, as before.
        self._metadata = metadata(token)
        self._timeout = timeout
        self._results = ResultWatch(self._cluster, self._metadata)
        self._batcher = _SubmitBatcher(self)

    @property
    def address(self):
        """The address taken for the leader now."""
        return self._cluster.leader

    @property
    def addresses(self):
        """Every node's address known: those given, then leaders named."""
        return list(self._cluster.addresses)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        await self._results.close()
        for channel in self._cluster.release():
            await channel.close()
        if self._channel is not None:
            await self._channel.close()

    def _call(self, method, request, changes_state=False):
        """The JobService call `method` (its name) on the leader; raises
        grpc.RpcError. `changes_state`: a call that must not run twice."""
        return self._cluster.call(
            pb_grpc.JobServiceStub, method, request,
            changes_state=changes_state, metadata=self._metadata,
            timeout=self._timeout)

    @_typed
    async def submit(self, kind, payload=None, **fields):
        """Enqueues one job; returns its Job once jobqd has it durably.

        Keywords are JobSpec's fields: queue, priority, delay / run_at,
        timeout (seconds or timedelta; run_at a datetime), retry (attempts,
        a dict or a jobq.Retry), idempotency_key, labels (dict), and any
        field added to JobSpec later. `payload` is bytes, str, or JSON data.
        """
        spec = make_spec(kind, payload, **fields)
        r = await self._batcher.submit(spec)
        job = Job(self, r.job_id, r.duplicate)
        job.kind, job.queue = spec.kind, spec.queue or "default"
        return job

    async def run(self, kind, payload=None, **fields):
        """Submits a job and returns its result (see Job.result)."""
        job = await self.submit(kind, payload, **fields)
        return await job.result()

    @_typed
    async def submit_many(self, specs):
        """Enqueues jobq.Spec objects in one SubmitBatch call; returns their
        Jobs in order. When jobqd refuses some, raises the typed error of the
        first, with `jobs` (the Jobs, None where refused) and `failures`
        ({index: error}) attached; the accepted ones stay enqueued."""
        request = pb.SubmitBatchRequest(jobs=[s.proto for s in specs])
        r = await self._call("SubmitBatch", request, changes_state=True)
        jobs, failures = [], {}
        for i, (spec, res) in enumerate(zip(specs, r.results)):
            if res.code != 0:
                failures[i] = errors.from_code_number(
                    res.code, f"jobs[{i}]: {res.message}")
                jobs.append(None)
                continue
            job = Job(self, res.job_id, res.duplicate)
            job.kind, job.queue = spec.proto.kind, spec.proto.queue or "default"
            jobs.append(job)
        if failures:
            first = failures[min(failures)]
            first.jobs, first.failures = jobs, failures
            raise first
        return jobs

    async def _get(self, job_id):
        return await self._call("GetJob", pb.GetJobRequest(job_id=job_id))

    async def _cancel(self, job_id):
        return await self._call("CancelJob",
                                pb.CancelJobRequest(job_id=job_id),
                                changes_state=True)

    @_typed
    async def get(self, job_id):
        """The job as jobqd holds it now."""
        return Job(self, job_id)._update_from_job(await self._get(job_id))

    @_typed
    async def cancel(self, job_id):
        """Cancels a job in any non-terminal state; the job after it."""
        return Job(self, job_id)._update_from_job(await self._cancel(job_id))

    async def list(self, queue="", state=None, labels=None, page_size=100):
        """Every job matching the filters, in submission order (pages are
        fetched as the iteration goes)."""
        request = pb.ListJobsRequest(queue=queue, state=State.of(state),
                                     page_size=page_size, labels=labels or {})
        while True:
            try:
                r = await self._call("ListJobs", request)
            except grpc.RpcError as e:
                raise errors.from_rpc(e) from None
            for j in r.jobs:
                yield Job(self, j.id)._update_from_job(j)
            if not r.next_page_token:
                return
            request.page_token = r.next_page_token

    async def watch(self, queue="", job_ids=(), states=()):
        """Yields jobq.Event for every state change of the jobs named (each
        one's current state first; the stream ends when they have all
        ended) or of every job of `queue` (until the caller stops). The
        stream opens on the leader, following it as a read does; once
        open, a break is raised to the caller."""
        request = pb.WatchRequest(queue=queue, job_ids=list(job_ids),
                                  states=[State.of(s) for s in states])

        async def open_on(address, _):
            # Open means answered: a standby's refusal comes before any
            # response, so the first one is awaited here.
            call = self._cluster.stub(pb_grpc.JobServiceStub, address).Watch(
                request, metadata=self._metadata)
            try:
                return call, await call.read()
            except BaseException:
                call.cancel()
                raise

        try:
            call, response = await self._cluster.retry(open_on,
                                                       changes_state=False)
        except grpc.RpcError as e:
            raise errors.from_rpc(e) from None
        try:
            while response is not grpc.aio.EOF:
                for e in response.events:
                    yield Event(e)
                response = await call.read()
        except grpc.RpcError as e:
            raise errors.from_rpc(e) from None
        finally:
            call.cancel()

    @property
    def watch_streams_opened(self):
        """Result-watch streams opened so far (one per set of awaited ids)."""
        return self._results.opened
