"""Several addresses: jobq.Client and jobq.Worker follow the leader.

A standby here is a fake: grpcio's aio server in the test's event loop,
serving jobq.v1's JobService and WorkerService, every method of which
refuses as jobqd's standby does (UNAVAILABLE, "jobqd is a standby; the
leader is X", trailing metadata jobq-leader=X). The leader is the real
jobqd of the fixtures. An address that nobody listens on is a socket
bound and never listening: a connect there is refused at once.
"""

import asyncio
import collections
import socket
import threading

import grpc
import pytest
import pytest_asyncio

import jobq
from jobq.cluster import LEADER_KEY, parse_addresses
from jobq.v1 import jobq_pb2_grpc as pb_grpc

DEADLINE = 30


def within(aw):
    return asyncio.wait_for(aw, DEADLINE)


class FakeNode:
    """A gRPC server whose every JobService and WorkerService method fails
    with UNAVAILABLE: as a standby (`leader` None: "no leader yet"), or,
    with `message`, as a node that gives no leader and is no standby (a
    leader whose log has failed). `calls` counts the calls by method."""

    def __init__(self, leader=None, message=None):
        self.leader = leader
        self.message = message
        self.calls = collections.Counter()
        self.port = 0
        self._server = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    async def start(self):
        self._server = grpc.aio.server()
        pb_grpc.add_JobServiceServicer_to_server(
            self._servicer(pb_grpc.JobServiceServicer), self._server)
        pb_grpc.add_WorkerServiceServicer_to_server(
            self._servicer(pb_grpc.WorkerServiceServicer), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def stop(self):
        await self._server.stop(None)

    def _servicer(self, base):
        """A `base` (a generated Servicer) whose every method refuses."""
        def refusing(name):
            async def method(_, request_or_iterator, context):
                await self._refuse(name, context)
            return method
        names = [n for n in vars(base) if not n.startswith("_")]
        return type("Refusing" + base.__name__, (base,),
                    {n: refusing(n) for n in names})()

    async def _refuse(self, method, context):
        self.calls[method] += 1
        if self.message is not None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, self.message)
        if self.leader is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "jobqd is a standby; no leader yet")
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"jobqd is a standby; the leader is {self.leader}",
            trailing_metadata=((LEADER_KEY, self.leader),))


@pytest_asyncio.fixture
async def nodes():
    """Starts FakeNodes: `await nodes(leader=..., message=...)`."""
    started = []

    async def start(**kwargs):
        node = FakeNode(**kwargs)
        await node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.stop()


@pytest.fixture
def unreachable():
    """An address on which nobody listens (bound, not listening)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_addresses_are_comma_separated_or_a_list():
    assert parse_addresses("a:1") == ["a:1"]
    assert parse_addresses("a:1, b:2,,c:3") == ["a:1", "b:2", "c:3"]
    assert parse_addresses(["a:1", "b:2,c:3", "a:1"]) == ["a:1", "b:2", "c:3"]
    with pytest.raises(ValueError):
        parse_addresses(" , ")
    with pytest.raises(ValueError):
        parse_addresses([])


async def test_a_client_given_a_standby_first_submits_to_the_leader(
        jobqd, nodes):
    standby = await nodes(leader=jobqd.address)
    async with jobq.Client(f"{standby.address},{jobqd.address}") as c:
        assert c.address == standby.address
        job = await c.submit("sleep", payload=b"1ms", queue="ha")
        assert c.address == jobqd.address
        assert await within(job.result()) == b""
        got = await c.get(job.id)
        assert (got.state, got.queue) == (jobq.State.SUCCEEDED, "ha")
        # A batch of submits and a cancel go to the leader too.
        batch = await within(asyncio.gather(
            *(c.submit("noop", delay=3600) for _ in range(5))))
        assert (await c.cancel(batch[0].id)).state == jobq.State.CANCELLED
        assert len([j async for j in c.list(state="scheduled")]) == 4
    # Refused once; the leader's channel served every call after that.
    assert standby.calls == {"Submit": 1}


async def test_a_standby_alone_names_the_leader_and_is_left_for_it(
        jobqd, nodes):
    standby = await nodes(leader=jobqd.address)
    async with jobq.Client(standby.address) as c:
        assert await within(c.run("noop")) == b""
        assert c.addresses == [standby.address, jobqd.address]
        assert c.address == jobqd.address
    assert standby.calls == {"Submit": 1}


async def test_an_address_nobody_listens_on_is_passed_over(
        jobqd, unreachable):
    async with jobq.Client(f"{unreachable},{jobqd.address}") as c:
        job = await c.submit("noop")  # A write: never sent, so tried again.
        assert await within(job.result()) == b""
        assert c.address == jobqd.address
        assert (await c.get(job.id)).state == jobq.State.SUCCEEDED


async def test_a_leader_back_from_the_dead_is_dialled_at_once(
        jobqd, nodes, monkeypatch):
    # grpc's reconnect backoff made long: a channel that failed to connect
    # would fail every call for the next minute.
    monkeypatch.setattr(jobq.connect, "_OPTIONS", jobq.connect._OPTIONS + [
        ("grpc.initial_reconnect_backoff_ms", 60000),
        ("grpc.min_reconnect_backoff_ms", 60000)])
    jobqd.kill()
    standby = await nodes(leader=jobqd.address)
    async with jobq.Client([jobqd.address, standby.address]) as c:
        with pytest.raises(jobq.Unavailable):
            await within(c.submit("noop"))
        jobqd.start()  # The same address, elected (the standby names it).
        job = await within(c.submit("noop"))
        assert await within(job.result()) == b""
        assert c.address == jobqd.address
    assert standby.calls == {"Submit": 2}


async def test_a_list_of_addresses_works_as_the_comma_form(jobqd, nodes):
    standby = await nodes(leader=jobqd.address)
    async with jobq.Client([standby.address, jobqd.address]) as c:
        job = await c.submit("noop")
        states = [e.state async for e in c.watch(job_ids=[job.id])]
        assert states[-1] == jobq.State.SUCCEEDED


async def test_watch_and_awaited_results_open_on_the_leader(jobqd, nodes):
    standby = await nodes(leader=jobqd.address)
    async with jobq.Client(jobqd.address) as leader:
        job = await leader.submit("noop")
        async with jobq.Client(f"{standby.address},{jobqd.address}") as c:
            # The awaited results' shared Watch: reopened on the leader.
            assert await within(jobq.Job(c, job.id).result()) == b""
        assert standby.calls == {"Watch": 1}
        async with jobq.Client(f"{standby.address},{jobqd.address}") as c:
            # A watch of the caller's own.
            states = [e.state async for e in c.watch(job_ids=[job.id])]
            assert states == [jobq.State.SUCCEEDED]
        assert standby.calls == {"Watch": 2}


async def test_only_standbys_end_in_unavailable_with_the_standbys_word(
        nodes, unreachable):
    """Two standbys that name each other the leader: each call tries each
    once and the named leader once more, then gives up."""
    a, b = await nodes(), await nodes()
    a.leader, b.leader = b.address, a.address
    async with jobq.Client(f"{a.address},{b.address}") as c:
        with pytest.raises(jobq.Unavailable) as e:
            await c.submit("noop")
        assert e.value.message.startswith("jobqd is a standby; the leader is")
        assert sum(a.calls.values()) + sum(b.calls.values()) == 3
        with pytest.raises(jobq.Unavailable):
            await c.get("0000000000000001")
        assert sum(a.calls.values()) + sum(b.calls.values()) == 6
    # Standbys that know no leader, and a node that is down: each once.
    x, y = await nodes(), await nodes()
    async with jobq.Client([x.address, unreachable, y.address]) as c:
        with pytest.raises(jobq.Unavailable) as e:
            await c.cancel("0000000000000001")
        assert e.value.message == "jobqd is a standby; no leader yet"
        assert x.calls == {"CancelJob": 1} and y.calls == {"CancelJob": 1}


async def test_a_write_that_may_have_reached_a_leader_is_not_tried_again(
        jobqd, nodes):
    """A node that is no standby fails a submit with UNAVAILABLE (as a
    leader whose log has failed does): the job may be in, so the submit
    is not sent elsewhere. A read is."""
    broken = await nodes(message="the log has failed")
    async with jobq.Client(f"{broken.address},{jobqd.address}") as c:
        with pytest.raises(jobq.Unavailable) as e:
            await c.submit("noop", queue="once")
        assert e.value.message == "the log has failed"
        assert [j async for j in c.list(queue="once")] == []  # A read.
        assert c.address == jobqd.address
    assert broken.calls == {"Submit": 1, "ListJobs": 1}


async def test_a_worker_given_a_standby_first_works_for_the_leader(
        jobqd, nodes, client):
    standby = await nodes(leader=jobqd.address)
    welcomed = asyncio.Event()
    worker = jobq.Worker(f"{standby.address},{jobqd.address}",
                         on_welcome=lambda w: welcomed.set())

    @worker.handler("py.ha")
    async def handle(job):
        return job.text.upper()

    task = asyncio.create_task(worker.run())
    try:
        await within(welcomed.wait())
        assert worker.address == jobqd.address
        assert await within(client.run("py.ha", payload="hi")) == b"HI"
    finally:
        worker.stop()
        await within(task)
    # Refused once, and followed at once (no backoff): one session.
    assert standby.calls == {"Work": 1}
    assert worker.sessions == 1


async def test_the_blocking_worker_follows_the_leader_too(
        jobqd, nodes, client):
    from jobq import sync_worker

    standby = await nodes(leader=jobqd.address)
    welcomed = threading.Event()
    worker = sync_worker.Worker(
        [standby.address, jobqd.address], kinds=["py.ha.sync"],
        handler=lambda job: job.payload.decode().upper(),
        on_welcome=lambda w: welcomed.set())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(welcomed.wait, DEADLINE)
        assert worker.address == jobqd.address
        assert await within(client.run("py.ha.sync", payload="hi")) == b"HI"
    finally:
        worker.stop()
        await asyncio.to_thread(thread.join, DEADLINE)
    assert not thread.is_alive()
    assert standby.calls == {"Work": 1}
