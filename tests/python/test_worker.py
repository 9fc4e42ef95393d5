"""jobq.Worker against a real jobqd: results, failures, JSON, progress,
cancellation reaching the handler, stop, and a jobqd restart."""

import asyncio
import contextlib

import pytest

import jobq

DEADLINE = 30


def within(aw):
    return asyncio.wait_for(aw, DEADLINE)


@contextlib.asynccontextmanager
async def running(worker):
    """Runs `worker` until the block ends; waits for its first welcome."""
    task = asyncio.create_task(worker.run())
    welcomed = asyncio.create_task(worker_welcomed(worker))
    done, _ = await asyncio.wait({task, welcomed}, timeout=DEADLINE,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        welcomed.cancel()
        task.result()  # Raises what ended it.
    assert welcomed in done, "the worker was not welcomed"
    try:
        yield task
    finally:
        worker.stop()
        try:
            await within(task)
        finally:
            task.cancel()


async def worker_welcomed(worker):
    await worker.welcomed.wait()


async def test_a_worker_runs_jobs_and_returns_results(jobqd, client):
    worker = jobq.Worker(jobqd.address, concurrency=10)

    @worker.handler("py.echo")
    async def echo(job):
        assert job.kind == "py.echo" and job.attempt == 1
        return {"got": job.json(), "queue": job.queue, "labels": job.labels}

    @worker.handler("py.text")
    def text(job):  # A plain function runs on a thread.
        return job.text.upper()

    async with running(worker):
        job = await client.submit("py.echo", payload={"n": 7}, queue="wq",
                                  labels={"a": "b"})
        assert await within(job.json()) == {
            "got": {"n": 7}, "queue": "wq", "labels": {"a": "b"}}
        assert await within(client.run("py.text", payload="hi")) == b"HI"
        results = await within(asyncio.gather(
            *(client.run("py.echo", payload=[i]) for i in range(50))))
        assert len(results) == 50
    assert worker.done == 52


async def test_a_handler_exception_fails_the_attempt_with_its_message(
        jobqd, client):
    worker = jobq.Worker(jobqd.address)

    @worker.handler("py.fail")
    async def fail(job):
        raise RuntimeError("disk on fire")

    @worker.handler("py.fatal")
    async def fatal(job):
        raise jobq.PermanentError("never")

    async with running(worker):
        job = await client.submit("py.fail", retry=2,
                                  queue="fq")
        with pytest.raises(jobq.JobFailed) as e:
            await within(job.result())
        assert e.value.job.state == jobq.State.DEAD
        assert e.value.job.error == "disk on fire"
        assert e.value.job.attempt == 2
        fatal_job = await client.submit("py.fatal", retry=5, queue="fq")
        with pytest.raises(jobq.JobFailed):
            await within(fatal_job.result())
        assert fatal_job.attempt == 1
        dead = [j.id async for j in client.list(queue="fq", state="dead")]
        assert dead == [job.id, fatal_job.id]


async def test_progress_reaches_watchers(jobqd, client):
    worker = jobq.Worker(jobqd.address)
    # A Watch opens with the job's state, not its past progress: the
    # handler reports progress only once the watch has delivered its
    # opening event, so that the report cannot pass before it.
    watching, release = asyncio.Event(), asyncio.Event()

    @worker.handler("py.slow")
    async def slow(job):
        await watching.wait()
        await job.progress(0.5, "half way")
        await release.wait()
        return b"done"

    async def watch_until_terminal(job_id):
        progress = None
        async for e in client.watch(job_ids=[job_id]):
            watching.set()
            if e.progress is not None and progress is None:
                progress = e.progress
                release.set()
            if e.state.terminal:
                return progress

    async with running(worker):
        job = await client.submit("py.slow")
        progress = await within(watch_until_terminal(job.id))
        assert progress.fraction == 0.5
        assert progress.message == "half way"
        assert await within(job.result()) == b"done"


async def test_cancelling_a_job_cancels_its_handler_task(jobqd, client):
    worker = jobq.Worker(jobqd.address)
    started, cancelled = asyncio.Event(), asyncio.Event()

    @worker.handler("py.forever")
    async def forever(job):
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with running(worker):
        job = await client.submit("py.forever")
        await within(started.wait())
        await client.cancel(job.id)
        await within(cancelled.wait())
        with pytest.raises(jobq.JobFailed):
            await within(job.result())
        assert job.state == jobq.State.CANCELLED


async def test_stop_finishes_running_handlers_and_returns(jobqd, client):
    worker = jobq.Worker(jobqd.address, concurrency=2)
    started, release = asyncio.Event(), asyncio.Event()

    @worker.handler("py.wait")
    async def wait(job):
        started.set()
        await release.wait()
        return b"finished"

    task = asyncio.create_task(worker.run())
    await within(worker_welcomed(worker))
    job = await client.submit("py.wait")
    await within(started.wait())
    worker.stop()
    assert not task.done()
    release.set()
    await within(task)
    assert await within(job.result()) == b"finished"


async def test_a_worker_keeps_working_across_a_jobqd_restart(durable_jobqd):
    """jobqd is killed while a handler runs; the handler ends while jobqd is
    away; jobqd starts again on the same address and data directory. The
    worker reconnects, delivers the late result (refused: the restart gave
    the job back to its queue), runs the job's next attempt, and new jobs."""
    welcomes, disconnects = asyncio.Queue(), asyncio.Queue()
    refused = asyncio.Queue()
    worker = jobq.Worker(
        durable_jobqd.address, concurrency=4,
        backoff=jobq.Backoff(base=0.05, cap=0.5),
        on_welcome=lambda w: welcomes.put_nowait(w.worker_id),
        on_disconnect=lambda w, e: disconnects.put_nowait(e),
        on_refused=refused.put_nowait)
    first_started, release, first_done = (asyncio.Event(), asyncio.Event(),
                                          asyncio.Event())

    @worker.handler("py.work")
    async def work(job):
        if job.text == "hold" and job.attempt == 1:
            first_started.set()
            await release.wait()
            first_done.set()
            return b"late"
        return f"{job.text}/{job.attempt}"

    async with jobq.Client(durable_jobqd.address) as c:
        async with running(worker):
            name = await within(welcomes.get())
            assert await within(c.run("py.work", payload="before")) == \
                b"before/1"
            held = await c.submit("py.work", payload="hold")
            await within(first_started.wait())
            # The run's start is logged in a later group commit than the
            # job: a submit acknowledged after it shows that it is durable.
            await c.submit("noop")

            durable_jobqd.kill()
            assert await within(disconnects.get()) is not None
            release.set()
            await within(first_done.wait())

            durable_jobqd.start()
            assert await within(welcomes.get()) == name  # The same id.
            late = await within(refused.get())
            assert (late.job_id, late.attempt) == (held.id, 1)
            # The run lost to the restart is run again.
            assert await within(held.result()) == b"hold/2"
            assert await within(c.run("py.work", payload="after")) == \
                b"after/1"
        assert worker.sessions == 2
        assert worker.refused == 1


async def test_the_blocking_worker_keeps_working_across_a_jobqd_restart(
        durable_jobqd):
    """jobq.sync_worker (jobq_worker) reconnects the same way: after a kill
    and a start on the same address and data directory it is welcomed
    again under its id, runs the next attempt of the job it lost, and new
    jobs."""
    import queue
    import threading

    from jobq import sync_worker

    welcomes = queue.Queue()
    entered, release = threading.Event(), threading.Event()

    def handler(job):
        text = job.payload.decode()
        if text == "hold" and job.attempt == 1:
            entered.set()
            release.wait(DEADLINE)
            return "late"
        return f"{text}/{job.attempt}"

    worker = sync_worker.Worker(
        durable_jobqd.address, kinds=["py.sync"], handler=handler,
        concurrency=2, worker_id="steady",
        backoff=jobq.Backoff(base=0.05, cap=0.5),
        on_welcome=lambda w: welcomes.put(w.worker_id))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(welcomes.get, timeout=DEADLINE) == \
            "steady"
        async with jobq.Client(durable_jobqd.address) as c:
            assert await within(c.run("py.sync", payload="before")) == \
                b"before/1"
            held = await c.submit("py.sync", payload="hold")
            assert await asyncio.to_thread(entered.wait, DEADLINE)
            await c.submit("noop")  # The run's start is durable.
        durable_jobqd.restart()
        assert await asyncio.to_thread(welcomes.get, timeout=DEADLINE) == \
            "steady"
        async with jobq.Client(durable_jobqd.address) as c:
            job = await c.get(held.id)
            assert await within(job.result()) == b"hold/2"
            assert await within(c.run("py.sync", payload="after")) == \
                b"after/1"
    finally:
        release.set()
        worker.stop()
        await asyncio.to_thread(thread.join, DEADLINE)
    assert not thread.is_alive()
    assert worker.sessions == 2


async def test_a_job_waits_for_its_parents_and_gets_their_results(
        jobqd, client):
    worker = jobq.Worker(jobqd.address, concurrency=4)

    @worker.handler("py.part")
    async def part(job):
        return job.text * 2

    @worker.handler("py.join")
    async def join(job):
        return {pid: result.decode() for pid, result in job.parents.items()}

    a = await client.submit("py.part", payload="a")
    b = await client.submit("py.part", payload="b")
    # Parents by id or by the Job that submit returned.
    joined = await client.submit("py.join", depends_on=[a, b.id])
    await within(joined.refresh())
    assert joined.state == jobq.State.WAITING
    async with running(worker):
        assert await within(joined.json()) == {a.id: "aa", b.id: "bb"}
