"""Small builders shared by the store contract tests."""

from __future__ import annotations

from quaero.jobs.models import Job, JobStatus, NewJob, StatusChange
from quaero.store.base import Store

OWNER = "worker-a"


async def root(store: Store, job_type: str = "fanout") -> Job:
    return (await store.create_jobs([NewJob(job_type, name="root")]))[0]


async def running_root(store: Store) -> Job:
    """A top-level job claimed by ``OWNER`` (a parent whose handler runs)."""
    r = await root(store)
    claimed = await store.claim_jobs(OWNER, 1, 60, ["fanout"])
    assert [j.id for j in claimed] == [r.id]
    return claimed[0]


async def children(store: Store, parent: Job, n: int, job_type: str = "noop") -> list[Job]:
    return await store.create_jobs([NewJob(job_type, parent_id=parent.id) for _ in range(n)])


async def complete(store: Store, job: Job, owner: str = OWNER) -> None:
    [res] = await store.apply_changes(
        [StatusChange(job.id, JobStatus.COMPLETED, expect_owner=owner, handler_done=True)]
    )
    assert res.ok, res.error


async def counters(store: Store, job_id: int) -> dict[str, int]:
    job = await store.get_job(job_id)
    assert job is not None
    return job.children.as_dict()


def c(total: int = 0, pending: int = 0, running: int = 0, completed: int = 0, failed: int = 0,
      cancelled: int = 0) -> dict[str, int]:  # fmt: skip
    return {
        "total": total,
        "pending": pending,
        "running": running,
        "completed": completed,
        "failed": failed,
        "cancelled": cancelled,
    }
