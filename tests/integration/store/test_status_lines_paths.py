"""Store contract: the status lines a job row stands for (run, final) stay in its log, in
order and once, on the paths that take a job out of running other than a worker's
completion: a lost lease, a release (a claimed-ahead job given back), a cancel of a
running job and of a parent's subtree, and on rows whose lines were written as log rows
before the row could stand for them (an upgraded PostgreSQL database)."""

from __future__ import annotations

import pytest

from quaero.jobs.models import JobStatus, StatusChange
from quaero.store.base import LogEntry, LogQuery, Store

from .helpers import OWNER, children, running_root
from .test_status_lines import read_all


def msgs(entries: list[LogEntry]) -> list[str]:
    return [e.message for e in entries]


async def check_tree(store: Store, root_id: int) -> list[LogEntry]:
    """The aggregated log: ids increase, each job's lines are its own log, and paging
    (both directions, small pages) gives the same lines."""
    tree = await store.read_logs(LogQuery(root_id, aggregated=True, limit=10_000))
    ids = [e.id for e in tree]
    assert ids == sorted(set(ids))
    for job_id in {e.job_id for e in tree}:
        own = await store.read_logs(LogQuery(job_id, limit=10_000))
        assert [e for e in tree if e.job_id == job_id] == own
        assert await read_all(store, LogQuery(job_id), 1) == own
    assert await read_all(store, LogQuery(root_id, aggregated=True), 2) == tree
    back = await read_all(store, LogQuery(root_id, aggregated=True, descending=True), 3)
    assert back == tree[::-1]
    return tree


async def test_lost_lease_release_and_cancels_keep_every_status_line(store: Store) -> None:
    root = await running_root(store)
    kids = await children(store, root, 4)
    assert len(await store.claim_jobs(OWNER, 4, 60, ["noop"])) == 4
    # kids[0]: its lease expires and it runs again
    # kids[1]: given back unstarted (a claimed-ahead job on a graceful stop)
    # kids[2]: cancelled while running; kids[3]: cancelled with the parent's subtree
    await store.heartbeat(OWNER, [kids[0].id], -1)
    assert kids[0].id in await store.requeue_expired()
    res = await store.apply_changes(
        [StatusChange(kids[1].id, JobStatus.PENDING, expect_owner=OWNER, release=True)]
    )
    assert res[0].ok
    [cancel] = await store.cancel_jobs([kids[2].id])
    assert cancel.ok
    again = await store.claim_jobs(OWNER, 2, 60, ["noop"])
    assert sorted(j.id for j in again) == [kids[0].id, kids[1].id]
    await store.apply_changes(
        [StatusChange(j.id, JobStatus.COMPLETED, expect_owner=OWNER) for j in again]
    )
    assert await store.cancel_subtree(root.id) >= 2
    logs = {k.id: msgs(await store.read_logs(LogQuery(k.id))) for k in kids}
    lost = logs[kids[0].id]
    assert lost[0] == "Status changed: running" and lost[-2:] == [
        "Status changed: running",
        "Status changed: completed",
    ]
    assert lost[1].startswith("Status changed: pending"), lost
    released = logs[kids[1].id]
    assert (
        released[-1] == "Status changed: completed"
        and released.count("Status changed: completed") == 1
    )
    assert logs[kids[2].id][0] == "Status changed: running"
    assert logs[kids[2].id][-1].startswith("Status changed: cancelled"), logs[kids[2].id]
    assert logs[kids[3].id][0] == "Status changed: running"
    assert logs[kids[3].id][-1].startswith("Status changed: cancelled"), logs[kids[3].id]
    for kid in kids:
        job = await store.get_job(kid.id)
        assert job is not None
        runs = logs[kid.id].count("Status changed: running")
        # a release gives its attempt back
        assert runs == job.attempts + (kid is kids[1]), (logs[kid.id], job.attempts)
    await check_tree(store, root.id)
    assert await store.recount() == []


async def test_rows_from_before_the_row_kept_its_lines_read_once_in_order(store: Store) -> None:
    """An upgraded database: a job's run and final lines are log rows and its row holds
    no ids for them. A retry in place then adds new lines; nothing shows twice."""
    if store.dialect != "postgres":
        pytest.skip("PostgreSQL kept every status line as a log row before migration 0016")
    root = await running_root(store)
    [kid] = await children(store, root, 1)
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes([StatusChange(kid.id, JobStatus.FAILED, expect_owner=OWNER)])
    before = await store.read_logs(LogQuery(root.id, aggregated=True, limit=1000))
    pool = store.pool  # type: ignore[attr-defined]
    async with pool.acquire() as conn, conn.transaction():  # as migration 0016 found it
        await conn.execute(
            "INSERT INTO job_logs (id, job_id, root_id, ts, level, message)"
            " OVERRIDING SYSTEM VALUE"
            " SELECT run_log_id, id, root_id, started_at, 'info', 'Status changed: running'"
            " FROM jobs WHERE run_log_id IS NOT NULL"
            " UNION ALL SELECT end_log_id, id, root_id, completed_at,"
            " CASE status WHEN 'failed' THEN 'error' ELSE 'info' END,"
            " 'Status changed: ' || status FROM jobs WHERE end_log_id IS NOT NULL"
        )
        await conn.execute("UPDATE jobs SET run_log_id = NULL, end_log_id = NULL")
    assert await store.read_logs(LogQuery(root.id, aggregated=True, limit=1000)) == before
    [res] = await store.retry_jobs([kid.id])
    assert res.ok
    assert [j.id for j in await store.claim_jobs(OWNER, 1, 60, ["noop"])] == [kid.id]
    await store.apply_changes([StatusChange(kid.id, JobStatus.COMPLETED, expect_owner=OWNER)])
    lines = msgs(await store.read_logs(LogQuery(kid.id)))
    assert lines[:2] == ["Status changed: running", "Status changed: failed"]
    assert lines[-2:] == ["Status changed: running", "Status changed: completed"]
    assert lines.count("Status changed: running") == 2
    assert lines.count("Status changed: failed") == 1
    await check_tree(store, root.id)
    assert await store.recount() == []


async def test_a_log_read_is_one_snapshot_while_a_retry_commits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log read takes the log rows and the lines job rows stand for in two queries: a
    retry in place that commits between them (the row's lines become log rows) must not
    take lines out of the read (``jobs logs --follow`` then skipped them for good)."""
    import asyncio

    from quaero.store import postgres_reads, sqlite_reads

    root = await running_root(store)
    [kid] = await children(store, root, 1)
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes([StatusChange(kid.id, JobStatus.FAILED, expect_owner=OWNER)])
    before = msgs(await store.read_logs(LogQuery(kid.id)))
    assert before == ["Status changed: running", "Status changed: failed"]
    loop = asyncio.get_running_loop()
    fired: list[bool] = []

    async def retry() -> None:
        if not fired:
            fired.append(True)
            [res] = await store.retry_jobs([kid.id])
            assert res.ok

    if store.dialect == "sqlite":
        original = sqlite_reads._status_lines

        def between(*args: object) -> object:  # runs on a reader thread
            asyncio.run_coroutine_threadsafe(retry(), loop).result(10)
            return original(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(sqlite_reads, "_status_lines", between)
    else:
        original_pg = postgres_reads._status_lines

        async def between_pg(*args: object) -> object:
            await retry()
            return await original_pg(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(postgres_reads, "_status_lines", between_pg)
    got = msgs(await store.read_logs(LogQuery(kid.id)))
    assert fired
    monkeypatch.undo()
    after = msgs(await store.read_logs(LogQuery(kid.id)))
    assert after == [*before, "Retry in place", "Status changed: pending (retry in place)"]
    assert got in (before, after)


async def test_a_retry_claimed_again_in_the_same_flush_keeps_every_line(store: Store) -> None:
    """A retry due at once (no backoff) is claimed again by the flush that retries it:
    one write holds its retry line and its second run line, after its first run line."""
    root = await running_root(store)
    [kid] = await children(store, root, 1)
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    retry = StatusChange(
        kid.id, JobStatus.PENDING, reason="retry 2/3", error="x", expect_owner=OWNER,
        available_at=0.0,
    )  # fmt: skip
    results, claimed = await store.apply_and_claim([retry], OWNER, 1, 60, ["noop"])
    assert results[0].ok
    if not claimed:  # the embedded store's flush claims nothing (its claim loop does)
        claimed = await store.claim_jobs(OWNER, 1, 60, ["noop"])
    assert [j.id for j in claimed] == [kid.id]
    await store.apply_changes([StatusChange(kid.id, JobStatus.COMPLETED, expect_owner=OWNER)])
    lines = await store.read_logs(LogQuery(kid.id))
    assert msgs(lines) == [
        "Status changed: running",
        "Status changed: pending (retry 2/3)",
        "Status changed: running",
        "Status changed: completed",
    ]
    assert [e.id for e in lines] == sorted({e.id for e in lines})
    await check_tree(store, root.id)
    assert await store.recount() == []


async def test_a_reopened_ancestor_keeps_both_final_lines_and_finishes_at_once(
    store: Store,
) -> None:
    """A failed child retried in place reopens its failed parent; when the child then
    completes, the parent finishes in the same call, and its log shows both ends."""
    root = await running_root(store)
    [kid] = await children(store, root, 1)
    await store.apply_changes(
        [StatusChange(root.id, JobStatus.COMPLETED, expect_owner=OWNER, handler_done=True)]
    )
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes([StatusChange(kid.id, JobStatus.FAILED, expect_owner=OWNER)])
    parent = await store.get_job(root.id)
    assert parent is not None and parent.status is JobStatus.FAILED
    first = msgs(await store.read_logs(LogQuery(root.id)))
    assert "Status changed: failed (all children finished)" in first[-2:], first
    [res] = await store.retry_jobs([kid.id])
    assert res.ok
    parent = await store.get_job(root.id)
    assert parent is not None and not parent.is_terminal
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    await store.apply_changes(
        [StatusChange(kid.id, JobStatus.COMPLETED, expect_owner=OWNER, handler_done=True)]
    )
    parent = await store.get_job(root.id)
    assert parent is not None and parent.status is JobStatus.COMPLETED
    lines = msgs(await store.read_logs(LogQuery(root.id)))
    assert lines[: len(first)] == first
    ends = [m for m in lines if m.startswith(("Status changed: failed", "Status changed: comp"))]
    assert ends == [
        "Status changed: failed (all children finished)",
        "Status changed: completed (all children finished)",
    ], lines
    assert "Status changed: completed (all children finished)" in lines[-2:], lines
    await check_tree(store, root.id)
    assert await store.recount() == []


async def test_pruning_children_leaves_the_parent_log_whole(store: Store) -> None:
    """``db prune --children-only``: the children go with every line of theirs (rows and
    the ones their rows stood for); the parent's own log is untouched."""
    root = await running_root(store)
    kids = await children(store, root, 3)
    await store.apply_changes(
        [StatusChange(root.id, JobStatus.COMPLETED, expect_owner=OWNER, handler_done=True)]
    )
    await store.claim_jobs(OWNER, 3, 60, ["noop"])
    await store.apply_changes(
        [StatusChange(k.id, JobStatus.COMPLETED, expect_owner=OWNER) for k in kids]
    )
    own = await store.read_logs(LogQuery(root.id, limit=1000))
    assert "Status changed: completed (all children finished)" in [e.message for e in own]
    while not (await store.prune_step(root.id, children_only=True, limit=2)).done:
        pass
    assert await store.read_logs(LogQuery(root.id, limit=1000)) == own
    assert await store.read_logs(LogQuery(root.id, aggregated=True, limit=1000)) == own
    assert await check_tree(store, root.id) == own
    assert await store.recount() == []


async def test_a_middle_parent_aggregated_log_holds_its_subtree_lines_only(store: Store) -> None:
    root = await running_root(store)
    [mid, other] = await children(store, root, 2, job_type="fanout")
    await store.claim_jobs(OWNER, 2, 60, ["fanout"])
    below = await children(store, mid, 2)
    await children(store, other, 1)
    await store.claim_jobs(OWNER, 3, 60, ["noop"])
    await store.apply_changes(
        [
            StatusChange(below[0].id, JobStatus.FAILED, error="boom", expect_owner=OWNER),
            StatusChange(below[1].id, JobStatus.COMPLETED, expect_owner=OWNER),
        ]
    )
    subtree = {mid.id, *(b.id for b in below)}
    got = await store.read_logs(LogQuery(mid.id, aggregated=True, limit=1000))
    assert {e.job_id for e in got} == subtree
    own = sorted(
        [e for j in subtree for e in await store.read_logs(LogQuery(j, limit=1000))],
        key=lambda e: e.id,
    )
    assert got == own
    assert await read_all(store, LogQuery(mid.id, aggregated=True), 1) == own
    back = await read_all(store, LogQuery(mid.id, aggregated=True, descending=True), 2)
    assert back == own[::-1]
    errors = await store.read_logs(LogQuery(mid.id, aggregated=True, min_level="error"))
    assert [(e.job_id, e.message) for e in errors] == [(below[0].id, "Status changed: failed")]
