"""Store contract: which pending jobs a claim takes, and in what order (both backends).

A claim takes due pending jobs of the types asked for, in due order (``available_at``,
then id: a fan-out's children, due together, in the order they were created; a retry in
the order it became due). Pending jobs of other types and retries not yet due are left,
without being scanned (migrations 0013 / postgres 0017: ``bench/claim_scan.py``).
Concurrent claims never take a job twice, and none comes back empty while due jobs are
left for it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from quaero.jobs.models import JobStatus, StatusChange
from quaero.store.base import Store
from quaero.store.sqlite_sql import claim_candidates

from .helpers import children, running_root


async def test_claims_take_due_jobs_of_the_asked_types_in_due_order(store: Store) -> None:
    parent = await running_root(store)
    first = await children(store, parent, 3)
    others = await children(store, parent, 5, job_type="ghost")
    claimed = await store.claim_jobs("w", 3, 60, ["noop"])
    assert [j.id for j in claimed] == [j.id for j in first]
    fresh = await children(store, parent, 2)
    # retried: the first child due after the fresh ones were created, the second an
    # hour from now, the third before everything else
    soon, later, earlier = fresh[1].available_at + 0.001, time.time() + 3600, 1.0
    res = await store.apply_changes(
        [
            StatusChange(first[0].id, JobStatus.PENDING, expect_owner="w", available_at=soon),
            StatusChange(first[1].id, JobStatus.PENDING, expect_owner="w", available_at=later),
            StatusChange(first[2].id, JobStatus.PENDING, expect_owner="w", available_at=earlier),
        ]
    )
    assert all(r.ok for r in res)
    while time.time() <= soon:  # a millisecond
        await asyncio.sleep(0.001)
    taken = [j.id for _ in range(4) for j in await store.claim_jobs("w2", 1, 60, ["noop"])]
    assert taken == [first[2].id, fresh[0].id, fresh[1].id, first[0].id]
    # the other type's jobs were pending all along; a claim for it takes them, in order
    claimed = await store.claim_jobs("w3", 10, 60, ["ghost", "noop"])
    assert [j.id for j in claimed] == [j.id for j in others]
    assert await store.claim_jobs("w4", 10, 60, ["noop"]) == []  # the retry is not due
    assert await store.recount() == []


async def test_concurrent_claims_share_every_due_job_once(store: Store) -> None:
    """Twenty claims at once, of 8 jobs each, over 200 due jobs (and 300 of another type
    ahead of them): each takes 8 distinct jobs, none comes back empty."""
    parent = await running_root(store)
    await children(store, parent, 300, job_type="ghost")
    due = {j.id for j in await children(store, parent, 200)}
    got = await asyncio.gather(*(store.claim_jobs(f"w{i}", 8, 60, ["noop"]) for i in range(20)))
    ids = [j.id for jobs in got for j in jobs]
    assert [len(jobs) for jobs in got] == [8] * 20
    assert len(set(ids)) == 160 and set(ids) <= due
    assert await store.recount() == []


async def test_sqlite_claim_plan_seeks_each_type_in_due_order(store: Store, store_url: str) -> None:
    """On SQLite the claim is one index range per type (jobs_due: job_type, then due
    time), never a walk over pending jobs it cannot take (postgres: test_plans.py)."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL's claim plans are checked in tests/integration/postgres")
    conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
    try:
        params = ["noop", 1e12, 8, "fanout", 1e12, 8, "crawl", 1e12, 8, 8]
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + claim_candidates(3), params)]
    finally:
        conn.close()
    seeks = [p for p in plan if "jobs" in p and ("SEARCH" in p or "SCAN" in p)]
    assert seeks.count("SEARCH jobs USING INDEX jobs_due (job_type=? AND available_at<?)") == 3
    assert seeks[0] == "SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)", plan
    assert len(seeks) == 4, plan
