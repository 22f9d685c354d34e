"""Store contract: job listings, statistics, and the counters-vs-recount check."""

from __future__ import annotations

import random
import sqlite3

import asyncpg
import pytest

from quaero.errors import InvalidJobSpec
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.base import JobQuery, Store

from .helpers import OWNER, children, running_root


async def test_list_jobs_filters_orders_and_pages(store: Store) -> None:
    root = await running_root(store)
    await store.create_jobs(
        [NewJob("noop", name=f"child {i}", parent_id=root.id) for i in range(5)]
        + [NewJob("other", name="odd_one%", parent_id=root.id)]
    )
    await store.create_jobs([NewJob("noop", name="another root")])
    top = await store.list_jobs(JobQuery(parent_id="root"))
    assert top.total == 2 and {j.name for j in top.items} == {"root", "another root"}
    kids = await store.list_jobs(JobQuery(parent_id=root.id, limit=2, offset=1, descending=False))
    assert kids.total == 6 and [j.name for j in kids.items] == ["child 1", "child 2"]
    by_type = await store.list_jobs(JobQuery(job_type="other"))
    assert [j.name for j in by_type.items] == ["odd_one%"]
    # the text filter is a case-insensitive substring; % and _ are literal
    assert (await store.list_jobs(JobQuery(text="CHILD"))).total == 5
    assert [j.name for j in (await store.list_jobs(JobQuery(text="_one%"))).items] == ["odd_one%"]
    assert (await store.list_jobs(JobQuery(text="%"))).total == 1
    running = await store.list_jobs(JobQuery(statuses=[JobStatus.RUNNING]))
    assert [j.id for j in running.items] == [root.id]
    by_name = await store.list_jobs(JobQuery(parent_id=root.id, order_by="name", descending=True))
    assert by_name.items[0].name == "odd_one%"
    # NULLs sort first ascending and last descending (both backends alike)
    started = await store.list_jobs(JobQuery(order_by="started_at", descending=True, limit=1))
    assert started.items[0].id == root.id
    started_asc = await store.list_jobs(
        JobQuery(order_by="started_at", descending=False, limit=100)
    )
    assert started_asc.items[-1].id == root.id
    with pytest.raises(InvalidJobSpec):
        await store.list_jobs(JobQuery(order_by="id; DROP TABLE jobs"))


async def test_job_stats_count_by_status(store: Store) -> None:
    root = await running_root(store)
    await children(store, root, 3)
    await store.claim_jobs(OWNER, 1, 30, ["noop"])
    stats = await store.job_stats()
    assert stats["top_level"]["running"] == 1 and stats["top_level"]["total"] == 1
    assert stats["all"] == {
        "pending": 2,
        "running": 2,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 4,
    }


async def test_counters_equal_a_recount_after_random_operations(store: Store) -> None:
    rnd = random.Random(5)
    root = await running_root(store)
    parents = [root.id]
    owned: dict[int, str] = {}
    for _ in range(60):
        op = rnd.choice(["spawn", "claim", "claim", "finish", "finish", "cancel", "crash"])
        if op == "spawn":
            parent = rnd.choice(parents)
            job = await store.get_job(parent)
            if job and not job.is_terminal:
                kids = await store.create_jobs(
                    [
                        NewJob(rnd.choice(["noop", "fanout"]), parent_id=parent)
                        for _ in range(rnd.randint(1, 5))
                    ]
                )
                parents.extend(k.id for k in kids if k.job_type == "fanout")
        elif op in ("claim", "crash"):
            worker = f"w{rnd.randint(1, 3)}"
            lease = -1.0 if op == "crash" else 60.0
            for j in await store.claim_jobs(worker, rnd.randint(1, 4), lease, ["noop", "fanout"]):
                owned[j.id] = worker
            await store.requeue_expired()
        elif op == "cancel":
            await store.cancel_subtree(rnd.choice(parents))
        elif owned:
            job_id = rnd.choice(list(owned))
            status = rnd.choice([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.PENDING])
            await store.apply_changes(
                [StatusChange(job_id, status, expect_owner=owned.pop(job_id), handler_done=True)]
            )
        assert await store.recount() == []


async def test_recount_reports_drift(store: Store, store_url: str) -> None:
    root = await running_root(store)
    await children(store, root, 2)
    assert await store.recount() == []
    sql = "UPDATE jobs SET child_completed = child_completed + 7 WHERE id = {}"
    if store.dialect == "sqlite":
        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        conn.execute(sql.format(root.id))
        conn.commit()
        conn.close()
    else:
        pg = await asyncpg.connect(store_url)
        await pg.execute(sql.format(root.id))
        await pg.close()
    [drift] = await store.recount()
    assert drift.job_id == root.id
    assert drift.stored["completed"] == 7 and drift.actual["completed"] == 0
    assert drift.stored["pending"] == drift.actual["pending"] == 2
