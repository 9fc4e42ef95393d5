"""jobq.Client against a real jobqd: submit, results, watch, cancel, list,
batches, typed errors and JSON payloads."""

import asyncio
import os
import re
import sys
import time

import grpc
import pytest

import jobq

# Every await has a deadline, so that a broken build fails, not hangs.
DEADLINE = 30


def within(aw):
    return asyncio.wait_for(aw, DEADLINE)


async def test_submit_returns_a_job_whose_result_is_awaited(client):
    job = await client.submit("sleep", payload=b"10ms", queue="q1",
                              priority=5, labels={"team": "a"})
    assert len(job.id) == 16
    assert await within(job.result()) == b""
    assert job.state == jobq.State.SUCCEEDED
    assert job.attempt == 1
    assert job.run_time >= 0.009
    assert job.total >= job.run_time
    assert job.queue_wait >= 0
    got = await client.get(job.id)
    assert got.state == jobq.State.SUCCEEDED
    assert got.queue == "q1"
    assert got.labels == {"team": "a"}
    assert got.proto.spec.priority == 5


async def test_run_submits_and_awaits(client):
    assert await within(client.run("noop")) == b""


async def test_a_hundred_one_second_sleeps_gathered_end_in_about_a_second(
        client):
    await client.run("noop")  # The channel is connected.
    start = time.monotonic()
    results = await within(asyncio.gather(
        *(client.run("sleep", payload=b"1s") for _ in range(100))))
    elapsed = time.monotonic() - start
    print(f"100 one-second sleeps: {elapsed:.3f} s, "
          f"{client.watch_streams_opened} watch streams")
    assert results == [b""] * 100
    assert elapsed < 2.0
    # One shared watch, opened again as the set grew: never one per job.
    assert client.watch_streams_opened < 50


async def test_results_are_not_missed_when_the_job_ends_before_the_await(
        client):
    job = await client.submit("noop")
    # Wait for its end on a watch of its own: the job has ended before
    # result() subscribes, and the shared watch's opening state carries it.
    states = [e.state async for e in client.watch(job_ids=[job.id])]
    assert states[-1] == jobq.State.SUCCEEDED
    assert await within(job.result()) == b""
    assert job.state == jobq.State.SUCCEEDED


async def test_watch_by_ids_streams_every_state_until_the_end(client):
    job = await client.submit("noop", delay=3600)
    events = client.watch(job_ids=[job.id])
    opening = await within(events.__anext__())
    assert (opening.job_id, opening.state) == (job.id, jobq.State.SCHEDULED)
    await client.cancel(job.id)
    rest = [e.state async for e in events]  # Ends with the job.
    assert rest == [jobq.State.CANCELLED]


async def test_watch_by_queue_sees_jobs_submitted_after_it_opens(client):
    parked = await client.submit("noop", queue="wq", delay=3600)
    events = client.watch(queue="wq")
    opening = await within(events.__anext__())
    # The opening events are the queue's unfinished jobs.
    assert opening.job_id == parked.id
    assert opening.state == jobq.State.SCHEDULED
    job = await client.submit("noop", queue="wq")
    seen = []
    async for e in events:
        if e.job_id == job.id:
            seen.append(e.state)
            if e.state.terminal:
                break
    await events.aclose()
    assert seen[-1] == jobq.State.SUCCEEDED


async def test_cancel_ends_the_job_and_its_result_raises_job_failed(client):
    job = await client.submit("sleep", payload=b"60s")
    waiter = asyncio.create_task(job.result())
    cancelled = await client.cancel(job.id)
    assert cancelled.state == jobq.State.CANCELLED
    with pytest.raises(jobq.JobFailed) as e:
        await within(waiter)
    assert e.value.job.state == jobq.State.CANCELLED
    assert e.value.job.id == job.id


async def test_list_pages_through_a_queue_with_filters(client):
    ids = [(await client.submit("noop", queue="lq", delay=3600,
                                labels={"n": str(i % 2)})).id
           for i in range(5)]
    listed = [j.id async for j in client.list(queue="lq", page_size=2)]
    assert listed == ids
    odd = [j.id async for j in client.list(queue="lq", labels={"n": "1"})]
    assert odd == [ids[1], ids[3]]
    scheduled = [j async for j in client.list(queue="lq", state="scheduled")]
    assert len(scheduled) == 5
    assert [j async for j in client.list(queue="lq", state="dead")] == []


async def test_submit_many_submits_a_batch(client):
    jobs = await client.submit_many(
        [jobq.Spec("noop", queue="bq"), jobq.Spec("sleep", payload="1ms"),
         jobq.Spec("noop", payload={"k": [1, 2]}, labels={"x": "y"})])
    assert len(jobs) == 3
    assert [await within(j.result()) for j in jobs] == [b""] * 3
    assert (await client.get(jobs[2].id)).proto.spec.payload == b'{"k":[1,2]}'


async def test_submit_many_reports_the_refused_ones(client):
    with pytest.raises(jobq.InvalidArgument) as e:
        await client.submit_many([jobq.Spec("noop"),
                                  jobq.Spec("noop", queue="Not A Queue")])
    assert e.value.failures.keys() == {1}
    assert e.value.jobs[0] is not None and e.value.jobs[1] is None
    assert "queue" in e.value.message


async def test_errors_are_typed_with_the_status_code_and_message(client):
    with pytest.raises(jobq.NotFound) as e:
        await client.get("00000000000fffff")
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    assert isinstance(e.value, jobq.Error)
    with pytest.raises(jobq.InvalidArgument) as e:
        await client.submit("noop", queue="Not A Queue")
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "queue" in e.value.message
    with pytest.raises(jobq.InvalidArgument):
        await client.submit("sleep", payload=b"forever")
    with pytest.raises(TypeError):
        await client.submit("noop", no_such_field=1)


async def test_unreachable_jobqd_is_unavailable(jobqd):
    jobqd.kill()
    async with jobq.Client(jobqd.address, timeout=5) as c:
        with pytest.raises(jobq.Unavailable) as e:
            await c.get("0000000000000001")
    assert e.value.code == grpc.StatusCode.UNAVAILABLE


async def test_payloads_of_bytes_str_and_json_and_every_spec_field(client):
    job = await client.submit(
        "noop", payload={"a": 1, "b": ["x"]}, queue="pq", priority=-3,
        delay=3600, timeout=2.5, retry=jobq.Retry(max_attempts=4,
                                                  initial_backoff=0.5),
        idempotency_key="k-1", labels={"l": "v"})
    got = await client.get(job.id)
    spec = got.proto.spec
    assert spec.payload == b'{"a":1,"b":["x"]}'
    assert spec.priority == -3
    assert got.state == jobq.State.SCHEDULED
    assert got.proto.ready_at.seconds > time.time() + 3500
    assert spec.timeout.seconds == 2 and spec.timeout.nanos == 500_000_000
    assert spec.retry.max_attempts == 4
    assert spec.retry.initial_backoff.nanos == 500_000_000
    assert spec.idempotency_key == "k-1"
    again = await client.submit("noop", idempotency_key="k-1", queue="pq")
    assert again.id == job.id and again.duplicate
    text = await client.submit("noop", payload="héllo", delay=3600)
    assert (await client.get(text.id)).proto.spec.payload == "héllo".encode()


async def test_the_gather_example_prints_every_jobs_timings(jobqd):
    example = os.path.join(os.path.dirname(__file__), "..", "..",
                           "examples", "python", "gather.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, example, "--addr", jobqd.address, "--jobs", "20",
        "--duration", "100ms", stdout=asyncio.subprocess.PIPE)
    out, _ = await within(proc.communicate())
    assert proc.returncode == 0
    lines = out.decode().splitlines()
    print("\n".join(lines[-1:]))
    rows = [l for l in lines if re.match(r"^[0-9a-f]{16} ", l)]
    assert len(rows) == 20
    assert lines[-1].startswith("20 jobs of 100ms each: ")


async def test_concurrent_submits_share_a_batch_and_fail_alone(client):
    outcomes = await within(asyncio.gather(
        client.submit("noop"), client.submit("noop", queue="Not A Queue"),
        client.submit("noop", payload={"i": 2}), return_exceptions=True))
    assert isinstance(outcomes[1], jobq.InvalidArgument)
    assert "queue" in outcomes[1].message
    assert await within(outcomes[0].result()) == b""
    assert await within(outcomes[2].result()) == b""
    assert (await client.get(outcomes[2].id)).proto.spec.payload == b'{"i":2}'
