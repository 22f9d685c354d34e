"""Why isn't it done? Each kind of explanation on a real store (SQLite and PostgreSQL),
with real workers in the worker registry."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from quaero import App, JobContext, JobStatus, NewJob
from quaero.jobs.models import Job, StatusChange
from tests.integration.store.pgdb import PG_URL, PgDatabases

from .conftest import make_settings


async def until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await pred():
            await asyncio.sleep(0.02)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def xapp(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases
) -> AsyncIterator[App]:
    """An app whose ``remote`` job type lives in another program (``external_types``),
    with a ``block`` type whose handler runs until ``app.state["release"]`` is set."""
    url = None
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
        url = await pg_databases.create()
    settings = make_settings(tmp_path, url)
    settings.jobs.external_types = ["remote"]
    a = App(settings)

    @a.job("block")
    async def block(ctx: JobContext) -> None:
        await a.state["release"].wait()

    @a.job("holder")
    async def holder(ctx: JobContext) -> None:
        return None

    try:
        async with a:
            a.state["release"] = asyncio.Event()
            yield a
            a.state.get("release", asyncio.Event()).set()
    finally:
        if url is not None:
            await pg_databases.drop(url)


def kinds(answer: dict[str, Any]) -> list[str]:
    return [r["kind"] for r in answer["reasons"]]


def reason(answer: dict[str, Any], kind: str) -> dict[str, Any]:
    [r] = [r for r in answer["reasons"] if r["kind"] == kind]
    assert r["message"] in answer["summary"]
    return r


async def waiting_parent(app: App, children: list[NewJob]) -> Job:
    """A top-level ``holder`` whose handler returned while ``children`` are active."""
    root = await app.submit("holder")
    [claimed] = await app.store.claim_jobs("root-worker", 1, 60, ["holder"])
    assert claimed.id == root.id
    for spec in children:
        spec.parent_id = root.id
    await app.store.create_jobs(children)
    [res] = await app.store.apply_changes(
        [StatusChange(root.id, JobStatus.COMPLETED, expect_owner="root-worker", handler_done=True)]
    )
    assert res.ok and res.job is not None and res.job.waiting
    return res.job


async def test_pending_job_and_no_live_worker(xapp: App) -> None:
    job = await xapp.submit("noop")
    answer = await xapp.explain(job.id)
    assert kinds(answer) == ["no_live_worker", "waiting_for_worker"]
    assert answer["done"] is False and answer["status"] == "pending"
    assert answer["workers"] == {"live": 0, "registered": 0, "job_types": []}
    # a worker that stopped gracefully left the registry: still no live worker
    w = xapp.worker(job_types=["block"])
    await w.start()
    assert [x.id for x in await xapp.workers()] == [w.id]
    await w.stop()
    assert await xapp.workers() == []
    assert kinds(await xapp.explain(job.id))[0] == "no_live_worker"


async def test_retry_of_the_job_itself_is_not_due(xapp: App) -> None:
    job = await xapp.submit("noop")
    await xapp.store.claim_jobs("w", 1, 60, ["noop"])
    later = time.time() + 120
    [res] = await xapp.store.apply_changes(
        [StatusChange(job.id, JobStatus.PENDING, error="boom", available_at=later)]
    )
    assert res.ok
    answer = await xapp.explain(job.id)
    r = reason(answer, "not_due")
    assert r["retry"] is True and "a retry is not due until" in r["message"]


async def test_job_type_no_live_worker_serves(xapp: App) -> None:
    w = xapp.worker(job_types=["block"])
    await w.start()
    try:
        job = await xapp.submit("noop")
        answer = await xapp.explain(job.id)
        assert "no_live_worker" not in kinds(answer)
        r = reason(answer, "type_unserved")
        assert r["job_type"] == "noop" and r["external"] is False
        assert answer["workers"]["job_types"] == ["block"]
    finally:
        await w.stop()


async def test_own_handler_running_names_worker_and_heartbeat(xapp: App) -> None:
    w = xapp.worker(job_types=["block"])
    await w.start()
    try:
        job = await xapp.submit("block")

        async def running() -> bool:
            j = await xapp.store.get_job(job.id)
            return j is not None and j.status is JobStatus.RUNNING

        await until(running)
        answer = await xapp.explain(job.id)
        assert kinds(answer) == ["handler_running"]
        h = answer["handler"]
        assert h["worker_id"] == w.id and h["worker_live"] is True
        assert h["lease_expired"] is False and 0 <= h["heartbeat_age_seconds"] < 10
        assert f"on worker {w.id}" in answer["summary"][0]
        # the registry row counts the running job (updated on the heartbeat cadence)

        async def counted() -> bool:
            rows = await xapp.workers()
            return len(rows) == 1 and rows[0].running == 1

        await until(counted)
        [info] = await xapp.workers()
        assert (info.host, info.pid) == (socket.gethostname(), os.getpid())
        assert info.concurrency == w.concurrency and info.job_types == ["block"]
    finally:
        xapp.state["release"].set()
        await w.stop()
    done = await xapp.wait(job.id, timeout=10)
    assert kinds(await xapp.explain(done.id)) == ["done"]


async def test_own_lease_expired_waits_for_the_reaper(xapp: App) -> None:
    job = await xapp.submit("noop")
    [claimed] = await xapp.store.claim_jobs("vanished-worker", 1, 0.01, ["noop"])
    await asyncio.sleep(0.05)  # the lease runs out; no worker runs a reaper
    answer = await xapp.explain(claimed.id)
    assert kinds(answer) == ["no_live_worker", "lease_expired"]
    assert answer["handler"]["lease_expired"] is True
    assert answer["handler"]["worker_live"] is False
    assert "put it back to pending" in reason(answer, "lease_expired")["message"]
    assert job.id == claimed.id


async def test_pending_children_not_due_retries_and_unserved_types(xapp: App) -> None:
    parent = await waiting_parent(
        xapp,
        [NewJob("noop") for _ in range(4)]
        + [NewJob("noop", delay=300) for _ in range(3)]
        + [NewJob("remote") for _ in range(2)]
        + [NewJob("block", delay=600)],
    )
    # two noop children failed an attempt and wait for their retry
    claimed = await xapp.store.claim_jobs("w", 2, 60, ["noop"])
    retry_at = time.time() + 60
    await xapp.store.apply_changes(
        [StatusChange(j.id, JobStatus.PENDING, error="x", available_at=retry_at) for j in claimed]
    )
    w = xapp.worker(job_types=["block"])  # serves block only
    await w.start()
    try:
        answer = await xapp.explain(parent.id)
    finally:
        await w.stop()
    assert answer["waiting_for_children"] is True
    assert kinds(answer) == [
        "children_pending",
        "children_retries_scheduled",
        "children_type_unserved",
        "children_type_unserved",
    ]
    p = answer["children"]["pending"]
    assert (p["count"], p["not_due"], p["due"], p["exact"]) == (10, 6, 4, True)
    assert p["retries_scheduled"] == 2
    assert p["next_retry_at"] == p["next_available_at"]  # the retries come first
    by_type = {t["job_type"]: t for t in p["by_type"]}
    assert by_type["block"]["served"] and not by_type["noop"]["served"]
    assert "6 not due yet" in reason(answer, "children_pending")["message"]
    unserved = {
        r["job_type"]: r for r in answer["reasons"] if r["kind"] == "children_type_unserved"
    }
    assert unserved["noop"]["count"] == 7 and unserved["noop"]["external"] is False
    assert unserved["remote"]["count"] == 2 and unserved["remote"]["external"] is True
    assert "external type" in unserved["remote"]["message"]


async def test_running_children_expired_leases_and_waiting_sub_parents(xapp: App) -> None:
    parent = await waiting_parent(
        xapp, [NewJob("block") for _ in range(2)] + [NewJob("noop") for _ in range(3)]
    )
    # a sub-parent: its handler returned, it waits for its own child
    sub = (await xapp.store.create_jobs([NewJob("holder", parent_id=parent.id)]))[0]
    await xapp.store.claim_jobs("sub-worker", 1, 60, ["holder"])
    await xapp.store.create_jobs([NewJob("block", parent_id=sub.id, delay=600)])
    [res] = await xapp.store.apply_changes(
        [StatusChange(sub.id, JobStatus.COMPLETED, expect_owner="sub-worker", handler_done=True)]
    )
    assert res.ok and res.job is not None and res.job.waiting
    dead = await xapp.store.claim_jobs("dead-worker", 3, 0.01, ["noop"])
    await asyncio.sleep(0.05)  # their leases run out
    # a live worker runs the two block children; its reaper first runs after 5 s
    w = xapp.worker(job_types=["block"], lease_seconds=60)
    await w.start()
    try:

        async def two_running() -> bool:
            return w.active == 2

        await until(two_running)
        answer = await xapp.explain(parent.id)
    finally:
        xapp.state["release"].set()
        await w.stop()
    assert kinds(answer) == ["children_running", "children_leases_expired"]
    r = answer["children"]["running"]
    assert (r["count"], r["scanned"], r["exact"]) == (6, 6, True)
    assert (r["handlers_running"], r["waiting_for_children"], r["expired_leases"]) == (5, 1, 3)
    assert sorted(r["expired_job_ids"]) == sorted(j.id for j in dead)
    assert r["waiting_job_ids"] == [sub.id]
    assert r["workers"] == sorted({w.id, "dead-worker"})
    assert r["oldest_heartbeat_age_seconds"] >= 0.05
    assert f"ask why job {sub.id}" in reason(answer, "children_running")["message"]
    # the sub-parent explains itself: one child not due for 10 minutes
    sub_answer = await xapp.explain(sub.id)
    assert sub_answer["children"]["pending"]["not_due"] == 1


async def test_explain_unknown_job(xapp: App) -> None:
    from quaero import JobNotFound

    with pytest.raises(JobNotFound):
        await xapp.explain(424242)
