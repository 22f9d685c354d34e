"""Store contract: retention prunes exactly the finished trees past their age, keeps a
durable summary on a parent whose children were pruned, and `db check` stays clean."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from quaero.config import RetentionSettings
from quaero.documents.models import NewDocument
from quaero.errors import JobNotFound, JobStateError
from quaero.jobs.models import Job, JobStatus, NewJob, StatusChange
from quaero.jobs.retention import Pruner
from quaero.store.base import JobQuery, LogQuery, Store

from .conftest import Recorder
from .helpers import OWNER, c, children, complete, running_root

C, F, X = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED


async def finish_children(store: Store, kids: list[Job], statuses: list[JobStatus]) -> None:
    claimed = await store.claim_jobs(OWNER, len(kids), 60, [kids[0].job_type])
    assert sorted(j.id for j in claimed) == sorted(k.id for k in kids)
    results = await store.apply_changes(
        [
            StatusChange(k.id, st, expect_owner=OWNER, error="boom" if st is F else None)
            for k, st in zip(sorted(kids, key=lambda j: j.id), statuses, strict=True)
        ]
    )
    assert all(r.ok for r in results), [r.error for r in results]


async def finished_tree(store: Store, statuses: list[JobStatus]) -> Job:
    """A top-level job whose children ended with ``statuses``, then the job itself."""
    root = await running_root(store)
    kids = await children(store, root, len(statuses))
    await finish_children(store, kids, statuses)
    await store.add_job_stats(kids[0].id, {"pages": 3})
    await store.record_skips(kids[0].id, {"http://x/a": "robots"})
    await complete(store, root)
    job = await store.get_job(root.id)
    assert job is not None and job.is_terminal
    return job


async def raw(store: Store, sql: str, *args: Any) -> Any:
    """Run one statement (``?`` placeholders) on either backend; the first column of the
    first row."""
    if store.dialect == "sqlite":
        return await store.run_read(lambda conn: (conn.execute(sql, args).fetchone() or [None])[0])  # type: ignore[attr-defined]
    n = 0

    def mark(_m: Any) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    import re

    return await store.pool.fetchval(re.sub(r"\?", mark, sql), *args)  # type: ignore[attr-defined]


async def write(store: Store, sql: str, *args: Any) -> None:
    if store.dialect == "sqlite":
        await store.run_in_transaction(lambda ctx: ctx.conn.execute(sql, args))  # type: ignore[attr-defined]
        return
    import re

    n = 0

    def mark(_m: Any) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    await store.pool.execute(re.sub(r"\?", mark, sql), *args)  # type: ignore[attr-defined]


async def rows_of(store: Store, root_id: int) -> dict[str, int]:
    """Rows still stored for the tree of ``root_id``: jobs, logs, stats, skips."""
    return {
        "jobs": await raw(store, "SELECT COUNT(*) FROM jobs WHERE root_id = ?", root_id),
        "logs": await raw(store, "SELECT COUNT(*) FROM job_logs WHERE root_id = ?", root_id),
        "stats": await raw(
            store,
            "SELECT COUNT(*) FROM job_stats WHERE job_id IN"
            " (SELECT id FROM jobs WHERE root_id = ?) OR job_id = ?",
            root_id,
            root_id,
        ),
        "skips": await raw(store, "SELECT COUNT(*) FROM job_skips WHERE job_id > ?", root_id),
    }


async def test_prune_removes_exactly_the_finished_trees_past_their_setting(store: Store) -> None:
    failed_old = await finished_tree(store, [C, F])
    done_old = await finished_tree(store, [C, C])
    active = await running_root(store)
    await children(store, active, 3, job_type="idle")
    done_new = await finished_tree(store, [C])
    assert failed_old.status is F and done_old.status is C
    assert done_old.completed_at and done_new.completed_at
    # an hour after a moment between done_old's and done_new's completion
    cut = (done_old.completed_at + done_new.completed_at) / 2
    pruner = Pruner(store, RetentionSettings(completed="1h", failed="never", cancelled="1h"))
    report = await pruner.run_once(now=cut + 3600)
    assert [t.job_id for t in report.trees] == [done_old.id]
    assert report.trees[0].jobs == 3 and report.jobs == 3
    assert await store.get_job(done_old.id) is None
    assert (await rows_of(store, done_old.id))["jobs"] == 0
    with pytest.raises(JobNotFound):
        await store.read_logs(LogQuery(done_old.id))
    for kept in (failed_old, active, done_new):
        assert await store.get_job(kept.id) is not None
    assert await store.recount() == []

    # everything finished, whatever its status; the running tree stays whole
    report = await Pruner(store, RetentionSettings()).run_once(older_than=0, now=time.time() + 1)
    assert sorted(t.job_id for t in report.trees) == sorted([failed_old.id, done_new.id])
    for gone in (failed_old, done_new):
        assert await rows_of(store, gone.id) == {"jobs": 0, "logs": 0, "stats": 0, "skips": 0}
    got = await store.get_job(active.id)
    assert got is not None and got.children.as_dict() == c(total=3, pending=3)
    assert (await store.list_jobs(JobQuery(parent_id=active.id))).total == 3
    assert await store.recount() == []


async def test_a_running_tree_is_never_pruned(store: Store) -> None:
    active = await running_root(store)
    await children(store, active, 2, job_type="idle")
    with pytest.raises(JobStateError):
        await store.prune_step(active.id, children_only=False)
    assert await store.tree_active(active.id)
    assert await store.prunable_trees({s: time.time() + 10 for s in (C, F, X)}, False) == []


async def test_children_only_keeps_the_parent_with_exact_totals(
    store: Store, recorder: Recorder
) -> None:
    root = await finished_tree(store, [C, F, X, C])
    before = await store.get_job(root.id)
    assert before is not None and before.status is F
    dry = await Pruner(store, RetentionSettings()).run_once(
        older_than=0, children_only=True, dry_run=True, now=time.time() + 1
    )
    assert [(t.job_id, t.jobs) for t in dry.trees] == [(root.id, 4)]
    assert (await rows_of(store, root.id))["jobs"] == 5  # a dry run removes nothing

    report = await Pruner(store, RetentionSettings()).run_once(
        older_than=0, children_only=True, now=time.time() + 1
    )
    assert [(t.job_id, t.jobs, t.children_only) for t in report.trees] == [(root.id, 4, True)]
    job = await store.get_job(root.id)
    assert job is not None
    assert job.children.as_dict() == c(total=4, completed=2, failed=1, cancelled=1)
    assert job.status is F and job.children_pruned_at is not None
    assert (job.started_at, job.completed_at) == (before.started_at, before.completed_at)
    assert job.stats == before.stats
    page = await store.list_jobs(JobQuery(parent_id=root.id))
    assert page.items == [] and page.total == 0
    assert (await rows_of(store, root.id))["jobs"] == 1
    assert await store.recount() == []
    marks = await store.prune_marks()
    assert marks[root.id].children_only and marks[root.id].summary == job.children.as_dict()
    # its own log is kept
    assert await store.read_logs(LogQuery(root.id))
    # nothing more to prune below it; a whole-tree prune later removes it
    assert await store.prunable_trees({F: time.time() + 10}, True) == []
    await Pruner(store, RetentionSettings()).run_once(older_than=0, now=time.time() + 1)
    assert await store.get_job(root.id) is None
    assert root.id not in await store.prune_marks()
    deleted = [e for e in recorder.events if e.type == "job_deleted"]
    assert [e.payload for e in deleted] == [{"job_id": root.id, "parent_id": None}]


async def test_db_check_compares_pruned_parents_with_their_summary(store: Store) -> None:
    pruned = await finished_tree(store, [C, C])
    other = await finished_tree(store, [C])
    await Pruner(store, RetentionSettings(children="1s")).run_once(now=time.time() + 5)
    assert (await store.get_job(other.id)).children_pruned_at is not None  # type: ignore[union-attr]
    kept = await finished_tree(store, [C, F])
    assert await store.recount() == []
    await write(store, "UPDATE jobs SET child_completed = 7 WHERE id = ?", pruned.id)
    await write(store, "UPDATE jobs SET child_failed = 0 WHERE id = ?", kept.id)
    drift = await store.recount()
    assert [(d.job_id, d.pruned) for d in drift] == [(pruned.id, True), (kept.id, False)]
    assert drift[0].stored["completed"] == 7 and drift[0].actual["completed"] == 2
    assert drift[1].stored["failed"] == 0 and drift[1].actual["failed"] == 1


async def test_check_is_clean_between_the_steps_of_a_nested_prune(store: Store) -> None:
    root = await running_root(store)
    mids = await store.create_jobs([NewJob("fanout", parent_id=root.id) for _ in range(2)])
    claimed = await store.claim_jobs(OWNER, 2, 60, ["fanout"])
    assert sorted(j.id for j in claimed) == sorted(m.id for m in mids)
    for mid in mids:
        kids = await children(store, mid, 3)
        await finish_children(store, kids, [C, C, F])
        await complete(store, mid)
    await complete(store, root)
    steps = 0
    while True:
        step = await store.prune_step(root.id, children_only=False, limit=2)
        steps += 1
        assert await store.recount() == []
        if step.done:
            break
    assert steps >= 4 and await store.get_job(root.id) is None
    assert (await rows_of(store, root.id))["jobs"] == 0


async def test_prune_events_keeps_the_newest(store: Store) -> None:
    for _ in range(3):
        await finished_tree(store, [C])
    first, last = await store.event_bounds()
    n = await store.prune_events(time.time() + 10)
    assert n == last - first
    assert await store.event_bounds() == (last, last)


async def test_documents_outlive_their_crawl_and_rm_deletes_them(store: Store) -> None:
    crawl = await running_root(store)
    other = await running_root(store)
    for i in range(3):
        await store.save_document(NewDocument(f"http://d/{i}", f"t{i}", "body"), crawl.id, crawl.id)
    await store.save_document(NewDocument("http://d/0", "t0", "body"), other.id, other.id)
    await complete(store, crawl)
    await Pruner(store, RetentionSettings()).run_once(older_than=0, now=time.time() + 1)
    assert await store.get_job(crawl.id) is None
    assert (await store.list_documents(job_id=crawl.id)).total == 3  # outlived its crawl
    assert await store.delete_crawl_documents(crawl.id) == (2, 1)
    assert (await store.list_documents(job_id=crawl.id)).total == 0
    shared = await store.get_document(url="http://d/0")
    assert shared is not None and shared.job_ids == [other.id]
    assert await store.get_document(url="http://d/1") is None
    assert await store.delete_crawl_documents(crawl.id) == (0, 0)


async def test_two_processes_pruning_at_once(store: Store, store_url: str) -> None:
    """Two stores on one database (as two processes): each row is removed once, the
    trees are gone, the counters check clean."""
    from quaero.store.base import open_store

    trees = [await finished_tree(store, [C] * 12) for _ in range(3)]
    keep = await finished_tree(store, [C, F])
    other = open_store(store_url)
    await other.open()
    try:
        reports = await asyncio.gather(
            Pruner(store, RetentionSettings(), chunk=3).run_once(
                older_than=0, now=keep.completed_at
            ),
            Pruner(other, RetentionSettings(), chunk=3).run_once(
                older_than=0, now=keep.completed_at
            ),
        )
    finally:
        await other.close()
    assert sum(r.jobs for r in reports) == 3 * 13
    assert all(t.skipped is None for r in reports for t in r.trees)
    for t in trees:
        assert (await rows_of(store, t.id))["jobs"] == 0
    assert (await rows_of(store, keep.id))["jobs"] == 3
    assert await store.recount() == [] and await store.prune_marks() == {}


async def test_vacuum_after_a_prune(store: Store) -> None:
    for _ in range(2):
        await finished_tree(store, [C] * 30)
    await Pruner(store, RetentionSettings()).run_once(older_than=0, now=time.time() + 1)
    assert await store.vacuum() >= 0
    assert await store.vacuum(full=True) >= 0
    if store.dialect == "sqlite":  # a new database frees pages by itself: incremental
        mode = await store.run_read(lambda c: c.execute("PRAGMA auto_vacuum").fetchone()[0])  # type: ignore[attr-defined]
        assert mode == 2
    assert await store.recount() == [] and await store.prune_marks() == {}
