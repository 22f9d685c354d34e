"""Property: for random trees and random interleavings of claims, completions, failures,
retries, cancels, worker crashes, retries in place (one job, or a subtree's failed and
cancelled jobs: reopen cascades), and bulk cancel/retry/delete on filtered children:

- at every commit, every parent's ``children`` and every job's ``descendants`` equal a
  recount (``store.recount()``);
- every ancestor's stored status agrees with the one overall-status rule: a parent
  waiting for children is running with active children; a finished job has no pending
  or running job below it (the failure rule); a completed parent has no failed child;
- the last progress event of each parent carries its final counts (children and
  descendants), and sequence numbers have no gaps.

Run on SQLite, and on PostgreSQL when ``QUAERO_TEST_PG_URL`` is set."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaero import App, Event, JobStatus, NewJob
from quaero.errors import JobStateError
from quaero.jobs.models import TERMINAL, StatusChange
from quaero.jobs.progress import overall_status
from quaero.store.base import ChildFilter, JobQuery
from tests.integration.store.pgdb import PG_URL, PgDatabases

from .conftest import make_settings

OPS = (
    "spawn",
    "claim",
    "complete",
    "fail",
    "retry",
    "cancel",
    "crash",
    "reap",
    "handler_done",
    "retry_in_place",
    "retry_subtree",
    "bulk_cancel",
    "bulk_retry",
    "bulk_delete",
)
_PG = PgDatabases() if PG_URL else None


async def check_statuses(app: App) -> None:
    """Every stored status agrees with the overall-status rule and the failure rule."""
    jobs = (await app.store.list_jobs(JobQuery(limit=100_000))).items
    for j in jobs:
        c = j.children
        if j.waiting:
            assert j.status is JobStatus.RUNNING and c.active > 0, j
            assert overall_status(JobStatus.RUNNING, c) is JobStatus.RUNNING
        if j.status in TERMINAL:
            assert j.descendants.active == 0, j
        if j.status is JobStatus.COMPLETED:
            assert c.failed == 0, j


async def scenario(seed: int, steps: list[str], pg: bool = False) -> None:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        url = await _PG.create() if pg and _PG else None
        try:
            await _scenario(rnd, steps, Path(d), url)
        finally:
            if url and _PG:
                await _PG.drop(url)


async def _scenario(rnd: random.Random, steps: list[str], d: Path, url: str | None) -> None:
    async with App(make_settings(d, url)) as app:
        live: list[Event] = []
        app.bus.subscribe(live.append)
        root = await app.submit("noop")
        parents = [root.id]
        owners: dict[int, str] = {}
        for op in steps:
            if op == "spawn":
                parent = rnd.choice(parents)
                kids = (
                    await app.store.create_jobs(
                        [NewJob("noop", parent_id=parent) for _ in range(rnd.randint(1, 6))]
                    )
                    if not (await app.store.get_job(parent)).is_terminal
                    else []
                )  # type: ignore[union-attr]
                parents.extend(k.id for k in kids if rnd.random() < 0.3)
            elif op in ("claim", "crash"):
                worker = f"w{rnd.randint(1, 3)}"
                lease = -1.0 if op == "crash" else 60.0  # a crashed worker's lease is already over
                for j in await app.store.claim_jobs(worker, rnd.randint(1, 4), lease, ["noop"]):
                    owners[j.id] = worker
            elif op == "reap":
                await app.store.requeue_expired()
            elif op == "cancel":
                target = rnd.choice(parents)
                if await app.store.get_job(target) is not None:
                    await app.store.cancel_subtree(target)
            elif op == "retry_in_place":
                done = await app.store.list_jobs(
                    JobQuery(statuses=[JobStatus.FAILED, JobStatus.CANCELLED], limit=50)
                )
                if done.items:
                    await app.retry(rnd.choice(done.items).id)
            elif op == "retry_subtree":
                await app.retry(rnd.choice(parents), rnd.choice(["failed", "failed_and_cancelled"]))
            elif op in ("bulk_cancel", "bulk_retry", "bulk_delete"):
                statuses = rnd.sample(list(JobStatus), rnd.randint(0, 2))
                f = ChildFilter(statuses=statuses, subtree=rnd.random() < 0.5)
                action = op.removeprefix("bulk_")
                target = rnd.choice(parents)
                if await app.store.get_job(target) is not None:
                    try:
                        await app.manager.bulk(target, action, f)  # type: ignore[arg-type]
                    except JobStateError:
                        assert action == "delete"  # active jobs matched: nothing deleted
                page = await app.store.list_jobs(JobQuery(limit=100_000))
                alive = {j.id for j in page.items}
                parents[:] = [p for p in parents if p in alive] or [root.id]
                owners = {k: v for k, v in owners.items() if k in alive}
            elif op == "handler_done":
                target = rnd.choice(parents)
                await app.store.apply_changes(
                    [StatusChange(target, JobStatus.COMPLETED, handler_done=True)]
                )

            elif owners:
                job_id = rnd.choice(list(owners))
                status = {
                    "complete": JobStatus.COMPLETED,
                    "fail": JobStatus.FAILED,
                    "retry": JobStatus.PENDING,
                }[op]
                await app.store.apply_changes(
                    [
                        StatusChange(
                            job_id,
                            status,
                            expect_owner=owners.pop(job_id),
                            available_at=time.time(),
                        )
                    ]
                )
            assert await app.store.recount() == []
            await check_statuses(app)
        # every parent's last progress event carries its stored counters
        events = await app.store.read_events(0, 1_000_000)
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1))
        last_progress: dict[int, Event] = {}
        for e in events:
            if e.type == "parent_job_progress":
                last_progress[e.payload["job_id"]] = e
        for job_id, e in last_progress.items():
            job = await app.store.get_job(job_id)
            assert job is not None
            c = job.children
            p = e.payload
            assert (
                p["total_children"],
                p["pending_children"],
                p["running_children"],
                p["completed_children"],
                p["failed_children"],
                p["cancelled_children"],
            ) == (c.total, c.pending, c.running, c.completed, c.failed, c.cancelled)
            assert p["descendants"] == job.descendants.as_dict()
        # the live subscriber saw every event, in order, once
        async with asyncio.timeout(5):
            while not live or live[-1].seq < seqs[-1]:
                await asyncio.sleep(0.01)
        assert [e.seq for e in live] == seqs[seqs.index(live[0].seq) :]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1), steps=st.lists(st.sampled_from(OPS), min_size=1, max_size=40)
)
def test_random_interleavings_keep_counters_exact(seed: int, steps: list[str]) -> None:
    asyncio.run(scenario(seed, ["spawn", *steps]))


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="QUAERO_TEST_PG_URL is not set")
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1), steps=st.lists(st.sampled_from(OPS), min_size=1, max_size=30)
)
def test_random_interleavings_keep_counters_exact_postgres(seed: int, steps: list[str]) -> None:
    asyncio.run(scenario(seed, ["spawn", *steps], pg=True))
