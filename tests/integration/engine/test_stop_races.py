"""A worker's stop under way while its own store calls are in flight: whatever the store
already committed for the worker (a claim) is given back, never left leased to a worker
that is gone (those jobs would wait out the lease). On both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quaero import App, JobContext, JobStatus
from quaero.store.base import JobQuery


async def test_stop_gives_back_the_jobs_of_a_claim_in_flight(app: App) -> None:
    @app.job("noop")
    async def noop(ctx: JobContext) -> None:
        return None

    store = app.store
    real_claim = store.claim_jobs
    committed = asyncio.Event()
    reply = asyncio.Event()

    async def claim_with_a_slow_reply(*args: Any, **kwargs: Any) -> Any:
        # the claim commits, its reply is still on the way (a slow network) when the
        # worker is told to stop
        jobs = await real_claim(*args, **kwargs)
        if jobs:
            committed.set()
            await reply.wait()
        return jobs

    store.claim_jobs = claim_with_a_slow_reply  # type: ignore[method-assign]
    w = app.worker(concurrency=2, lease_seconds=60.0, prefetch=0)
    await w.start()
    job = await app.submit("noop")
    async with asyncio.timeout(10):
        await committed.wait()
    stopping = asyncio.create_task(w.stop(timeout=1.0))
    await asyncio.sleep(0.05)  # the stop is under way
    reply.set()
    async with asyncio.timeout(20):
        await stopping
    store.claim_jobs = real_claim  # type: ignore[method-assign]
    got = await store.get_job(job.id)
    assert got is not None
    assert got.status is JobStatus.PENDING and got.lease_owner is None, got
    page = await store.list_jobs(JobQuery(statuses=(JobStatus.RUNNING,)))
    assert page.total == 0
    assert await store.recount() == []


async def test_a_cancel_of_stop_pruner_propagates(app: App) -> None:
    store = app.store
    entered = asyncio.Event()

    async def slow_to_cancel(*_args: Any, **_kwargs: Any) -> Any:
        entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            # like asyncpg: a cancelled query ends once the server confirmed the cancel
            await asyncio.sleep(0.5)

    store.prunable_trees = slow_to_cancel  # type: ignore[method-assign]
    app.start_pruner()  # [retention] completed = 7d: the first pass asks at once
    async with asyncio.timeout(10):
        await entered.wait()
    stopping = asyncio.create_task(app.stop_pruner())
    await asyncio.sleep(0)  # stop_pruner has cancelled the pruner and waits for it
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await stopping


async def test_closing_the_app_stops_its_running_workers(app: App) -> None:
    started = asyncio.Event()

    @app.job("slow")
    async def slow(ctx: JobContext) -> None:
        started.set()
        await asyncio.sleep(60)

    w = app.worker(concurrency=2, lease_seconds=60.0, shutdown_timeout=0.2)
    await w.start()
    job = await app.submit("slow")
    async with asyncio.timeout(10):
        await started.wait()
    before = asyncio.all_tasks()
    async with asyncio.timeout(20):
        await app.close()  # no w.stop() first
    left = {t for t in before if not t.done() and t.get_name().startswith("quaero-")}
    # the worker's loops and its job ran on against the closed store
    assert left == set(), sorted(t.get_name() for t in left)
    await w.stop()  # a second stop is a no-op
    await app.open()
    got = await app.store.get_job(job.id)
    assert got is not None
    # released by the stop: not left leased to a worker that is gone
    assert got.status is JobStatus.PENDING and got.lease_owner is None, got
    assert await app.store.recount() == []


async def test_a_cancel_not_aimed_at_the_job_fails_it_instead_of_leaving_it_running(
    app: App,
) -> None:
    shared: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    started = asyncio.Event()

    @app.job("waits_on_shared", max_attempts=1)
    async def waits_on_shared(ctx: JobContext) -> None:
        started.set()
        await shared  # e.g. a fetch shared by several jobs, closed under them

    w = app.worker(concurrency=1, lease_seconds=60.0)
    await w.start()
    try:
        job = await app.submit("waits_on_shared")
        async with asyncio.timeout(10):
            await started.wait()
        shared.cancel()
        # the old worker took any CancelledError for a cancel of the job: it stayed
        # running, unheartbeated, until its 60 s lease ran out
        done = await app.wait(job.id, timeout=10)
        assert done.status is JobStatus.FAILED and "CancelledError" in (done.error or ""), done
    finally:
        await w.stop()
    assert await app.store.recount() == []


async def test_a_second_stop_returns_only_once_the_worker_has_stopped(app: App) -> None:
    """Two stops at once (a signal handler and ``App.close``): the second used to return
    at once, with the first still waiting for a running job."""
    release = asyncio.Event()
    started = asyncio.Event()

    @app.job("gated")
    async def gated(ctx: JobContext) -> None:
        started.set()
        await release.wait()

    w = app.worker(concurrency=1, prefetch=0)
    await w.start()
    job = await app.submit("gated")
    async with asyncio.timeout(10):
        await started.wait()
    first = asyncio.create_task(w.stop(timeout=30.0))
    second = asyncio.create_task(w.stop())
    await asyncio.sleep(0.2)
    assert not first.done() and not second.done()  # both wait for the running job
    release.set()
    async with asyncio.timeout(20):
        await asyncio.gather(first, second)
    got = await app.store.get_job(job.id)
    assert got is not None and got.status is JobStatus.COMPLETED, got
    await w.stop()  # and a later one returns at once
