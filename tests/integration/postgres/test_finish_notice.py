"""The commit hook's NOTICE (migration 0015) finishes a waiting parent in the same call on
every write path, also when the database or the role is set to hide notices."""

from __future__ import annotations

import asyncpg
import pytest

from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


async def _waiting_parent(store: PostgresStore, kids: int) -> tuple[int, list[int]]:
    """A root whose handler is done and whose ``kids`` children are claimed by "w"."""
    [root] = await store.create_jobs([NewJob("fanout")])
    [root] = await store.claim_jobs("w", 1, 60, ["fanout"])
    await store.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(kids)])
    await store.apply_changes(
        [StatusChange(root.id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
    )
    claimed = await store.claim_jobs("w", kids, 60, ["noop"])
    assert len(claimed) == kids
    return root.id, [k.id for k in claimed]


def _done(kid: int) -> StatusChange:
    return StatusChange(kid, JobStatus.COMPLETED, expect_owner="w", handler_done=True)


@pytest.mark.parametrize("scope", ["DATABASE", "ROLE"])
async def test_a_parent_finishes_at_once_on_every_path_when_notices_are_hidden(
    pg_url: str, scope: str
) -> None:
    conn = await asyncpg.connect(pg_url)
    db, role = await conn.fetchrow("SELECT current_database(), current_user")
    target = f'"{db}"' if scope == "DATABASE" else f'"{role}" IN DATABASE "{db}"'
    await conn.execute(f"ALTER {scope} {target} SET client_min_messages = error")
    await conn.close()
    store = PostgresStore(pg_url)
    await store.open()
    try:
        # a worker's flush (one statement locks and claims)
        root, kids = await _waiting_parent(store, 2)
        await store.apply_and_claim([_done(k) for k in kids], "w", 5, 60, ["noop"])
        job = await store.get_job(root)
        assert job is not None and job.status is JobStatus.COMPLETED and not job.waiting
        # apply_changes, one child at a time
        root, kids = await _waiting_parent(store, 2)
        for k in kids:
            await store.apply_changes([_done(k)])
        job = await store.get_job(root)
        assert job is not None and job.status is JobStatus.COMPLETED
        # a flush whose change ends a job failed (the locking path with subtrees)
        root, kids = await _waiting_parent(store, 1)
        await store.apply_and_claim(
            [StatusChange(kids[0], JobStatus.FAILED, error="boom", expect_owner="w")],
            "w",
            5,
            60,
            ["noop"],
        )
        job = await store.get_job(root)
        assert job is not None and job.status.terminal and not job.waiting
        # a cancel of the last active child
        root, kids = await _waiting_parent(store, 1)
        await store.cancel_jobs(kids)
        job = await store.get_job(root)
        assert job is not None and job.status.terminal and not job.waiting
        assert await store.recount() == []
    finally:
        await store.close()
