"""Store contract under concurrency: racing writers on one parent, cancels racing spawns,
the whole engine (App + worker pool) on each backend, and cross-process wake-ups."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from quaero import App, Settings
from quaero.events.types import Event
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.base import Store, open_store

from .conftest import Recorder
from .helpers import c, children, complete, counters, running_root


async def until(pred: Any, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await pred():
            await asyncio.sleep(0.02)


async def test_racing_workers_on_one_parent_keep_counters_exact(
    store: Store, recorder: Recorder
) -> None:
    parent = await running_root(store)
    await children(store, parent, 300)
    await complete(store, parent)

    async def worker(name: str) -> int:
        done = 0
        rnd = random.Random(name)
        while jobs := await store.claim_jobs(name, rnd.randint(1, 9), 60, ["noop"]):
            changes = [StatusChange(j.id, JobStatus.COMPLETED, expect_owner=name) for j in jobs]
            results = await store.apply_changes(changes)
            done += sum(r.ok for r in results)
        return done

    done = await asyncio.gather(*(worker(f"w{i}") for i in range(8)))
    assert sum(done) == 300
    assert await counters(store, parent.id) == c(total=300, completed=300)
    assert await store.recount() == []
    got = await store.get_job(parent.id)
    assert got and got.status is JobStatus.COMPLETED
    events = await store.read_events(0, 100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    last = [e for e in events if e.type == "parent_job_progress"][-1].payload
    assert (last["completed_children"], last["pending_children"], last["status"]) == (
        300,
        0,
        "completed",
    )
    # on_commit delivered every event exactly once (in any order across connections)
    assert sorted(e.seq for e in recorder.events) == [e.seq for e in events]


async def test_cancel_racing_spawns_and_claims_leaves_no_active_descendant(
    store: Store,
) -> None:
    parent = await running_root(store)
    await children(store, parent, 20)
    stop = asyncio.Event()

    async def spawner() -> None:
        while not stop.is_set():
            try:
                await store.create_jobs([NewJob("noop", parent_id=parent.id) for _ in range(5)])
            except Exception:  # the parent was cancelled: no more children
                return
            await asyncio.sleep(0)

    async def claimer() -> None:
        while not stop.is_set():
            await store.claim_jobs("w", 3, 60, ["noop"])
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(spawner()), asyncio.create_task(claimer())]
    await asyncio.sleep(0.2)
    await store.cancel_subtree(parent.id)
    stop.set()
    await asyncio.gather(*tasks)
    got = await store.get_job(parent.id)
    assert got and got.status is JobStatus.CANCELLED
    assert got.children.pending == 0 and got.children.running == 0
    assert await store.recount() == []


def engine_settings(url: str) -> Settings:
    s = Settings()
    s.store.url = url
    s.worker.lease_seconds = 2.0
    s.worker.poll_interval = 0.1
    s.worker.backoff_base = 0.01
    s.worker.backoff_max = 0.05
    s.events.poll_interval = 0.05
    return s


async def test_engine_fanout_with_a_worker_pool(store_url: str) -> None:
    async with App(engine_settings(store_url)) as app:
        seen: list[Event] = []
        app.bus.subscribe(seen.append, after_seq=0)
        w = app.worker(concurrency=8)
        await w.start()
        job = await app.submit("fanout", {"children": 300, "child_config": {"fail_rate": 0.1}})
        job = await app.wait(job.id, timeout=60)
        await w.stop()
        assert job.children.total == 300 and job.children.active == 0
        assert job.children.completed + job.children.failed == 300
        assert await app.store.recount() == []
        last_seq = (await app.store.event_bounds())[1]
        await until(lambda: _true(bool(seen) and seen[-1].seq == last_seq))
        assert [e.seq for e in seen] == list(range(1, last_seq + 1))
        final = [e for e in seen if e.type == "parent_job_progress" and e.job_id == job.id][-1]
        assert final.payload["completed_children"] == job.children.completed
        assert final.payload["status"] == job.status.value


async def test_another_process_commit_wakes_this_one(store_url: str, recorder: Recorder) -> None:
    # PostgreSQL: LISTEN/NOTIFY; SQLite: the wake-up sockets next to the file
    mine = open_store(store_url, on_wake=recorder.on_wake)
    other = open_store(store_url)
    await mine.open()
    await other.open()
    try:
        before = recorder.wakes
        await other.create_jobs([NewJob("noop")])
        await until(lambda: _true(recorder.wakes > before), timeout=5)
    finally:
        await other.close()
        await mine.close()


async def _true(value: bool) -> bool:
    return value


async def test_close_is_bounded_while_a_connection_is_held(store_url: str) -> None:
    """A PostgreSQL pool waits for every connection to come back before it closes; one
    held forever (a stuck task) must not hang close(): it terminates after its bound."""
    import time

    s = open_store(store_url)
    await s.open()
    if s.dialect != "postgres":
        await s.close()
        pytest.skip("SQLite has no pool to wait for")
    await s.pool.acquire()  # type: ignore[attr-defined]  # never released
    started = time.monotonic()
    await s.close()
    assert 9 < time.monotonic() - started < 20  # the pool's 10 s bound, then terminate
