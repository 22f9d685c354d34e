"""Store contract: every status change shows in the job's log as ``Status changed: X``,
in order, with cursors in both directions and level filters, however it is stored (the
embedded store keeps the common ones as ids on the job row, not as log rows), and the
events read back equal the events committed (the embedded store stores them compactly)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from quaero.jobs.models import JobStatus, StatusChange
from quaero.store.base import LogEntry, LogQuery, Store

from .conftest import Recorder
from .helpers import OWNER, children, complete, running_root


async def read_all(store: Store, query: LogQuery, page: int) -> list[LogEntry]:
    out: list[LogEntry] = []
    while True:
        query.limit = page
        got = await store.read_logs(query)
        out.extend(got)
        if len(got) < page:
            return out
        query.cursor = got[-1].id


async def test_status_lines_in_order_with_cursors_levels_and_retries(store: Store) -> None:
    root = await running_root(store)
    kids = await children(store, root, 3)
    await store.claim_jobs(OWNER, 3, 60, ["noop"])
    await store.add_logs([LogEntry(kids[0].id, "info", "hello", time.time())])
    retry = StatusChange(
        kids[2].id, JobStatus.PENDING, reason="retry 2/3", error="x", expect_owner=OWNER
    )
    await store.apply_changes(
        [
            StatusChange(kids[0].id, JobStatus.COMPLETED, expect_owner=OWNER),
            StatusChange(kids[1].id, JobStatus.FAILED, error="boom", expect_owner=OWNER),
            retry,
        ]
    )
    assert [j.id for j in await store.claim_jobs(OWNER, 1, 60, ["noop"])] == [kids[2].id]
    await store.apply_changes([StatusChange(kids[2].id, JobStatus.COMPLETED, expect_owner=OWNER)])
    await complete(store, root)

    def msgs(entries: list[LogEntry]) -> list[str]:
        return [e.message for e in entries]

    first = await store.read_logs(LogQuery(kids[0].id))
    assert msgs(first) == ["Status changed: running", "hello", "Status changed: completed"]
    failed = await store.read_logs(LogQuery(kids[1].id))
    assert msgs(failed) == ["Status changed: running", "Status changed: failed"]
    assert [e.level for e in failed] == ["info", "error"]
    assert msgs(await store.read_logs(LogQuery(kids[1].id, min_level="error"))) == [
        "Status changed: failed"
    ]
    assert msgs(await store.read_logs(LogQuery(kids[2].id))) == [
        "Status changed: running",
        "Status changed: pending (retry 2/3)",
        "Status changed: running",
        "Status changed: completed",
    ]
    got = await store.read_logs(LogQuery(kids[2].id, descending=True, limit=2))
    assert msgs(got) == ["Status changed: completed", "Status changed: running"]
    got = await store.read_logs(LogQuery(kids[2].id, descending=True, cursor=got[-1].id))
    assert msgs(got) == ["Status changed: pending (retry 2/3)", "Status changed: running"]
    ts = [e.timestamp for e in await store.read_logs(LogQuery(kids[2].id))]
    assert ts == sorted(ts)

    tree = await store.read_logs(LogQuery(root.id, aggregated=True, limit=1000))
    ids = [e.id for e in tree]
    assert ids == sorted(set(ids))
    for kid in kids:  # each job's lines keep their order in the merged log
        own = await store.read_logs(LogQuery(kid.id))
        assert [e for e in tree if e.job_id == kid.id] == own
    assert await read_all(store, LogQuery(root.id, aggregated=True), 2) == tree
    back = await read_all(store, LogQuery(root.id, aggregated=True, descending=True), 3)
    assert back == tree[::-1]
    errors = await store.read_logs(LogQuery(root.id, aggregated=True, min_level="warning"))
    assert [(e.job_id, e.message) for e in errors] == [
        (kids[1].id, "Status changed: failed"),
        (root.id, "Status changed: failed"),  # its overall status: a child failed
    ]
    mine = msgs(await store.read_logs(LogQuery(root.id)))
    assert mine[:2] == ["Job created (fanout)", "Status changed: running"] and mine[-2:] == [
        "0 pending, 0 running, 2 completed, 1 failed",
        "Status changed: failed",
    ]


async def test_events_read_back_exactly_as_committed(store: Store, recorder: Recorder) -> None:
    root = await running_root(store)
    kids = await children(store, root, 4)
    await store.claim_jobs(OWNER, 4, 60, ["noop"])
    await store.apply_changes(
        [StatusChange(k.id, JobStatus.COMPLETED, expect_owner=OWNER) for k in kids[:3]]
        + [StatusChange(kids[3].id, JobStatus.FAILED, error="boom", expect_owner=OWNER)]
    )
    await complete(store, root)
    stored = await store.read_events(0, 10_000)
    committed = {e.seq: e for e in recorder.events}
    assert {e.type for e in stored} >= {"job_status_change", "parent_job_progress"}
    for e in stored:
        mine = committed[e.seq]
        assert (e.type, e.job_id, e.root_id) == (mine.type, mine.job_id, mine.root_id or e.root_id)
        assert e.payload == mine.payload
        if store.dialect == "sqlite":  # same key order too (jsonb reorders keys)
            assert list(e.payload) == list(mine.payload)


async def test_a_reopened_job_keeps_both_final_lines(store: Store) -> None:
    """A job that finishes, is reopened (as a retry in place would) and finishes again
    shows both final lines: the one its row stood for becomes a log row when it reopens."""
    if store.dialect != "sqlite":
        pytest.skip(
            "drives the embedded store's planner directly (the retry-in-place test covers both)"
        )
    from quaero.jobs.planner import Planner

    root = await running_root(store)
    [kid] = await children(store, root, 1)
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes([StatusChange(kid.id, JobStatus.FAILED, expect_owner=OWNER)])
    first = await store.read_logs(LogQuery(kid.id))

    def reopen(ctx: Any) -> None:
        jobs: dict[int, Any] = {}
        store._load(ctx, [kid.id], jobs)  # type: ignore[attr-defined]
        store._load_ancestors(ctx, jobs)  # type: ignore[attr-defined]
        plan = Planner(jobs, now=ctx.now)
        change = StatusChange(kid.id, JobStatus.PENDING, reason="retry in place")
        plan._set_status(jobs[kid.id], JobStatus.PENDING, change)
        plan.finish()
        store._write_plan(ctx, plan)  # type: ignore[attr-defined]

    await store.run_in_transaction(reopen)  # type: ignore[attr-defined]
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes([StatusChange(kid.id, JobStatus.COMPLETED, expect_owner=OWNER)])
    lines = await store.read_logs(LogQuery(kid.id))
    assert [e.message for e in lines] == [
        "Status changed: running",
        "Status changed: failed",
        "Status changed: pending (retry in place)",
        "Status changed: running",
        "Status changed: completed",
    ]
    assert lines[:2] == first and lines[1].level == "error"
    assert await store.recount() == []


async def test_a_job_retried_in_place_keeps_every_status_line(store: Store) -> None:
    """Retry in place reopens a failed job under its id: the lines its row stood for
    (first run, final status) stay in its log, in order, and the new run adds its own."""
    root = await running_root(store)
    [kid] = await children(store, root, 1)
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes([StatusChange(kid.id, JobStatus.FAILED, expect_owner=OWNER)])
    first = await store.read_logs(LogQuery(kid.id))
    assert [e.message for e in first] == ["Status changed: running", "Status changed: failed"]
    [res] = await store.retry_jobs([kid.id])
    assert res.ok
    assert [j.id for j in await store.claim_jobs(OWNER, 1, 60, ["noop"])] == [kid.id]
    await store.apply_changes([StatusChange(kid.id, JobStatus.COMPLETED, expect_owner=OWNER)])
    lines = await store.read_logs(LogQuery(kid.id))
    assert lines[:2] == first and lines[1].level == "error"
    assert [e.message for e in lines][-2:] == [
        "Status changed: running",
        "Status changed: completed",
    ]
    ids = [e.id for e in lines]
    assert ids == sorted(set(ids))
    tree = await store.read_logs(LogQuery(root.id, aggregated=True, limit=1000))
    assert [e for e in tree if e.job_id == kid.id] == lines
    assert await store.recount() == []
