"""SQLite: a worker's changes and claims queued together run as ONE plan (WorkerStep).

The writer thread is held by a first operation while the others queue up behind it, so
they are certain to land in one group (no timing luck).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from quaero.events.types import JOB_STATUS_CHANGE, PARENT_JOB_PROGRESS
from quaero.jobs.models import JobStatus, StatusChange
from quaero.store.sqlite import SqliteStore
from quaero.store.sqlite_writer import TxContext

from ...conftest import close_or_fail
from .conftest import Recorder
from .helpers import OWNER, c, children, counters, running_root


@pytest.fixture
async def sqlite_store(tmp_path: Path, recorder: Recorder) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(f"sqlite:///{tmp_path}/q.db", on_commit=recorder.on_commit)
    await s.open()
    try:
        yield s
    finally:
        await close_or_fail(s.close, "the sqlite store")


async def _queued_together(store: SqliteStore, *calls: Awaitable[Any]) -> list[Any]:
    """Run ``calls`` while the writer is busy, so they are queued as one group."""
    started, release = threading.Event(), threading.Event()

    def hold(_ctx: TxContext) -> None:
        started.set()
        assert release.wait(10)

    holder = asyncio.ensure_future(store.run_in_transaction(hold))
    assert await asyncio.to_thread(started.wait, 10)
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0.05)  # every call has reached the writer's queue
    commits = store.writer_stats[0]
    release.set()
    await holder
    out = await asyncio.gather(*tasks)
    assert store.writer_stats[0] == commits + 2  # the holder's group, then theirs
    return out


async def test_claims_and_changes_queued_together_share_one_plan(
    sqlite_store: SqliteStore, recorder: Recorder
) -> None:
    store = sqlite_store
    parent = await running_root(store)
    kids = await children(store, parent, 10)
    first = await store.claim_jobs(OWNER, 2, 60, ["noop"])
    recorder.events.clear()
    done = [StatusChange(j.id, JobStatus.COMPLETED, expect_owner=OWNER) for j in first]
    a, b, (results, c3) = await _queued_together(
        store,
        store.claim_jobs("w1", 3, 60, ["noop"]),
        store.claim_jobs("w2", 3, 60, ["noop"]),
        store.apply_and_claim(done, OWNER, 3, 60, ["noop"]),
    )
    claimed = [j.id for j in [*a, *b, *c3]]
    assert len(claimed) == len(set(claimed)) == 8  # no job claimed twice, 8 were pending
    assert {j.lease_owner for j in a} == {"w1"} and {j.lease_owner for j in b} == {"w2"}
    assert all(r.ok for r in results)
    assert all(j.config == {} and j.status is JobStatus.RUNNING for j in [*a, *b, *c3])
    assert set(claimed) | {j.id for j in first} == {k.id for k in kids}
    assert await counters(store, parent.id) == c(total=10, running=8, completed=2)
    # one plan: one progress event for the parent, not one per operation
    kinds = [e.type for e in recorder.events]
    assert kinds.count(PARENT_JOB_PROGRESS) == 1
    assert kinds.count(JOB_STATUS_CHANGE) == 10
    seqs = [e.seq for e in recorder.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_a_failure_in_the_batch_cancels_jobs_the_batch_would_claim(
    sqlite_store: SqliteStore,
) -> None:
    store = sqlite_store
    parent = await running_root(store)
    [mid] = await children(store, parent, 1, job_type="fanout")
    [mid] = await store.claim_jobs(OWNER, 1, 60, ["fanout"])
    grandkids = await children(store, mid, 3)
    failed = StatusChange(mid.id, JobStatus.FAILED, error="boom", expect_owner=OWNER)
    [res], claimed = await _queued_together(
        store,
        store.apply_changes([failed]),
        store.claim_jobs("w1", 5, 60, ["noop"]),
    )
    assert res.ok and claimed == []  # the failure rule cancelled them first
    for g in grandkids:
        job = await store.get_job(g.id)
        assert job is not None and job.status is JobStatus.CANCELLED
    assert await counters(store, mid.id) == c(total=3, cancelled=3)
    assert await counters(store, parent.id) == c(total=1, failed=1)


async def test_a_refused_change_in_a_batch_refuses_only_itself(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    parent = await running_root(store)
    await children(store, parent, 3)
    mine = await store.claim_jobs(OWNER, 2, 60, ["noop"])
    stolen = StatusChange(mine[0].id, JobStatus.COMPLETED, expect_owner="someone-else")
    ok = StatusChange(mine[1].id, JobStatus.COMPLETED, expect_owner=OWNER)
    [r1], [r2], claimed = await _queued_together(
        store,
        store.apply_changes([stolen]),
        store.apply_changes([ok]),
        store.claim_jobs("w1", 5, 60, ["noop"]),
    )
    assert not r1.ok and r2.ok and len(claimed) == 1
    assert await counters(store, parent.id) == c(total=3, running=2, completed=1)
