"""Cancelling a parent while workers commit its children: no deadlock, nothing left active.

A worker's transaction holds its children's rows and folds their counter deltas into the
parent at COMMIT; a cancel locks the subtree children first, the parent last, so the two
never wait for each other in a cycle (PostgreSQL would break the cycle after a second)."""

from __future__ import annotations

import asyncio
import time

import pytest

from quaero import App, JobStatus, Settings

pytestmark = pytest.mark.postgres


async def test_cancel_while_workers_commit(pg_url: str) -> None:
    s = Settings()
    s.store.url = pg_url
    s.events.poll_interval = 0.05
    async with App(s) as app:
        w = app.worker(concurrency=16)
        await w.start()
        job = await app.submit("fanout", {"children": 3000, "child_config": {"sleep_ms": 2}})
        async with asyncio.timeout(60):
            while (j := await app.store.get_job(job.id)) is None or j.children.completed < 300:
                await asyncio.sleep(0.02)
        retries_before = app.store.retries  # type: ignore[attr-defined]
        t0 = time.monotonic()
        n = await app.manager.cancel(job.id)
        took = time.monotonic() - t0
        await w.stop()
        final = await app.store.get_job(job.id)
        assert final is not None and final.status is JobStatus.CANCELLED
        assert n >= 1 and final.children.active == 0
        assert final.children.cancelled + final.children.completed == final.children.total
        assert await app.store.recount() == []
        assert app.store.retries == retries_before, "the cancel deadlocked with a commit"  # type: ignore[attr-defined]
        assert took < 5, took
