"""Claiming ahead (``worker.prefetch``): jobs claimed beyond the free slots are leased to
the worker, start the moment a slot frees, go back to pending on a graceful stop, and a
cancel takes them out before they ever start. On both backends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from quaero import App, JobContext, JobStatus, NewJob
from quaero.jobs.worker import AUTO_PREFETCH_BELOW, AUTO_PREFETCH_MAX_FACTOR


async def until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await pred():
            await asyncio.sleep(0.02)


def _gated(app: App) -> tuple[list[int], asyncio.Event]:
    started: list[int] = []
    gate = asyncio.Event()

    @app.job("gated")
    async def gated(ctx: JobContext) -> None:
        started.append(ctx.id)
        await gate.wait()

    @app.job("parent")
    async def parent(ctx: JobContext) -> None:
        await ctx.spawn(NewJob("gated") for _ in range(int(ctx.config["n"])))

    return started, gate


async def _async(v: bool) -> bool:
    return v


async def _running(app: App, parent_id: int) -> int:
    job = await app.store.get_job(parent_id)
    assert job is not None
    return job.children.running


async def test_claimed_ahead_jobs_start_as_slots_free_and_all_finish(app: App) -> None:
    started, gate = _gated(app)
    w = app.worker(concurrency=2, prefetch=3)
    await w.start()
    root = await app.submit("parent", {"n": 10})

    async def claimed_ahead() -> bool:
        return len(started) == 2 and await _running(app, root.id) == 5

    await until(claimed_ahead)
    assert w.active == 2  # slots are slots: 2 handlers run, 3 more are leased and wait
    gate.set()
    root = await app.wait(root.id, timeout=20)
    await w.stop()
    assert root.status is JobStatus.COMPLETED and sorted(started) == sorted(set(started))
    assert len(started) == 10 and root.children.completed == 10
    assert await app.store.recount() == []


async def test_graceful_stop_gives_claimed_ahead_jobs_back(app: App) -> None:
    started, _gate = _gated(app)
    w = app.worker(concurrency=1, prefetch=2, shutdown_timeout=0.1)
    await w.start()
    root = await app.submit("parent", {"n": 3})

    async def claimed_ahead() -> bool:
        return len(started) == 1 and await _running(app, root.id) == 3

    await until(claimed_ahead)
    await w.stop()
    parent = await app.store.get_job(root.id)
    assert parent is not None and parent.children.pending == 3 and parent.children.running == 0
    assert await app.store.recount() == []
    # another worker finishes all of them
    started.clear()
    _gate.set()
    w2 = app.worker(concurrency=3)
    await w2.start()
    done = await app.wait(root.id, timeout=20)
    await w2.stop()
    assert done.status is JobStatus.COMPLETED and len(started) == 3


async def test_cancel_takes_a_claimed_ahead_job_out_before_it_starts(app: App) -> None:
    started, gate = _gated(app)
    w = app.worker(concurrency=1, prefetch=1)
    await w.start()
    root = await app.submit("parent", {"n": 2})

    async def claimed_ahead() -> bool:
        return len(started) == 1 and await _running(app, root.id) == 2

    await until(claimed_ahead)
    waiting = [i for i in range(root.id + 1, root.id + 3) if i not in started]
    assert len(waiting) == 1
    await app.manager.cancel(waiting[0])
    # the cancel's event takes the job out of the worker's claimed-ahead jobs
    await until(lambda: _async(waiting[0] not in w._ready))
    gate.set()
    done = await app.wait(root.id, timeout=20)
    await w.stop()
    assert started == [i for i in range(root.id + 1, root.id + 3) if i != waiting[0]]
    assert done.children.completed == 1 and done.children.cancelled == 1
    assert await app.store.recount() == []


async def test_auto_prefetch_claims_ahead_only_for_short_jobs(app: App) -> None:
    w = app.worker(concurrency=4, prefetch=None)
    assert w._free() == 4  # nothing known yet: no claim-ahead
    w.run_seconds, w.runs = AUTO_PREFETCH_BELOW / 10, 3
    assert w._free() == 4  # fewer runs seen than slots: not yet
    w.runs = 4
    assert w._free() == 8  # no flush timed yet: one round of slots ahead
    w.flush_seconds = 2.5 * w.run_seconds  # a slot runs ~3 jobs while a flush is out
    assert w._free() == 4 + 3 * 4
    w.flush_seconds = 100 * w.run_seconds
    assert w._free() == 4 + AUTO_PREFETCH_MAX_FACTOR * 4
    w.flush_seconds = None
    assert w._free() == 8
    w._started[1] = time.monotonic() - 2 * AUTO_PREFETCH_BELOW  # one job runs long now
    assert w._free() == 8 - 4
    w._started.clear()
    w.run_seconds = AUTO_PREFETCH_BELOW * 10
    assert w._free() == 4


async def test_auto_prefetch_never_holds_back_a_slow_child_of_a_fast_parent(app: App) -> None:
    """A fast parent spawns slow children: with 2 slots, the 3rd child stays pending
    (claimable by any other worker), not claimed ahead by this one."""
    started, gate = _gated(app)
    w = app.worker(concurrency=2, prefetch=None)
    await w.start()
    root = await app.submit("parent", {"n": 3})

    def settled() -> bool:  # both slots busy, no claim or flush in flight or due
        idle = not w._claiming and not w._flush_lock.locked() and not w._changes
        return len(started) == 2 and idle

    await until(lambda: _async(settled()))
    parent = await app.store.get_job(root.id)
    assert parent is not None and parent.children.pending == 1
    assert parent.children.running == 2
    gate.set()
    done = await app.wait(root.id, timeout=20)
    await w.stop()
    assert done.children.completed == 3
