"""``quaero db copy --from sqlite:///... --to postgresql://...``: everything arrives, ids
and event seqs included, and the target carries on after the copied ones."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from quaero.documents.models import NewDocument
from quaero.jobs.models import JobStatus, NewJob, StatusChange, job_to_dict
from quaero.store.base import JobQuery, LogEntry, LogQuery, Store, open_store

pytestmark = pytest.mark.postgres

QUAERO = str(Path(sys.executable).with_name("quaero"))


async def fill(store: Store) -> None:
    [root] = await store.create_jobs([NewJob("fanout", {"children": 3}, name="crawl")])
    [root] = await store.claim_jobs("w", 1, 60, ["fanout"])
    kids = await store.create_jobs(
        [NewJob("noop", parent_id=root.id, dedupe_key=str(i)) for i in range(3)]
    )
    for job in await store.claim_jobs("w", 2, 60, ["noop"]):
        await store.apply_changes([StatusChange(job.id, JobStatus.COMPLETED, expect_owner="w")])
    await store.add_logs([LogEntry(kids[0].id, "warning", "a warning", time.time())])
    await store.add_job_stats(root.id, {"skipped": 4})
    await store.save_document(
        NewDocument("http://x/1", "Vacuum guide", "how vacuum works"), kids[0].id, root.id
    )


async def test_copy_moves_everything_and_the_target_carries_on(pg_url: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/src.db"
    src = open_store(sqlite_url)
    await src.open()
    await fill(src)
    want_jobs = [job_to_dict(j) for j in (await src.list_jobs(JobQuery(limit=100))).items]
    want_events = await src.read_events(0, 10_000)
    want_logs = await src.read_logs(LogQuery(1, aggregated=True, limit=1000))
    await src.close()

    proc = subprocess.run(
        [QUAERO, "db", "copy", "--from", sqlite_url, "--to", pg_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "jobs: 4 rows copied" in proc.stdout
    # piped: the summary alone (the progress, for a terminal, was glued into one line)
    assert proc.stderr == "", proc.stderr

    dst = open_store(pg_url)
    await dst.open()
    try:
        got_jobs = [job_to_dict(j) for j in (await dst.list_jobs(JobQuery(limit=100))).items]
        for d in [*got_jobs, *want_jobs]:  # these depend on the time of the read
            d.pop("elapsed_seconds")
            d.pop("eta_seconds")
            d.pop("rate")
        assert got_jobs == want_jobs
        got_events = await dst.read_events(0, 10_000)
        assert [(e.seq, e.type, e.payload, e.created_at) for e in got_events] == [
            (e.seq, e.type, e.payload, e.created_at) for e in want_events
        ]
        got_logs = await dst.read_logs(LogQuery(1, aggregated=True, limit=1000))
        assert [(g.id, g.message) for g in got_logs] == [(w.id, w.message) for w in want_logs]
        assert await dst.recount() == []
        hits = await dst.search_documents("vacuum")
        assert [h.url for h in hits.items] == ["http://x/1"]
        root = await dst.get_job(1)
        assert root and root.stats == {"skipped": 4} and root.result_count == 1
        # the target continues after the copied ids and seqs
        [new] = await dst.create_jobs([NewJob("noop")])
        assert new.id > max(j["id"] for j in want_jobs)
        assert (await dst.read_events(want_events[-1].seq))[0].seq == want_events[-1].seq + 1
        await dst.add_logs([LogEntry(new.id, "info", "after the copy", time.time())])
        doc, is_new = await dst.save_document(NewDocument("http://x/2", "t", "b"), new.id, new.id)
        assert is_new and doc.id == 2
    finally:
        await dst.close()

    again = subprocess.run(
        [QUAERO, "db", "copy", "--from", sqlite_url, "--to", pg_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0 and "not empty" in again.stderr


async def test_copied_status_lines_stay_once_in_order_when_the_target_retries(
    pg_url: str, tmp_path: Path
) -> None:
    """The embedded store keeps a job's run and final lines as ids on its row; the copy
    makes them log rows. A retry in place on the target then keeps them, once, in order."""
    sqlite_url = f"sqlite:///{tmp_path}/src.db"
    src = open_store(sqlite_url)
    await src.open()
    [root] = await src.create_jobs([NewJob("fanout")])
    [root] = await src.claim_jobs("w", 1, 60, ["fanout"])
    kids = await src.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(2)])
    await src.claim_jobs("w", 2, 60, ["noop"])
    await src.apply_changes(
        [
            StatusChange(kids[0].id, JobStatus.FAILED, error="boom", expect_owner="w"),
            StatusChange(kids[1].id, JobStatus.COMPLETED, expect_owner="w"),
        ]
    )
    want = await src.read_logs(LogQuery(root.id, aggregated=True, limit=1000))
    await src.close()
    proc = subprocess.run(
        [QUAERO, "db", "copy", "--from", sqlite_url, "--to", pg_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    dst = open_store(pg_url)
    await dst.open()
    try:
        got = await dst.read_logs(LogQuery(root.id, aggregated=True, limit=1000))
        assert got == want
        [res] = await dst.retry_jobs([kids[0].id])
        assert res.ok
        assert [j.id for j in await dst.claim_jobs("w", 1, 60, ["noop"])] == [kids[0].id]
        await dst.apply_changes(
            [StatusChange(kids[0].id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
        )
        lines = await dst.read_logs(LogQuery(kids[0].id))
        assert [e.message for e in lines] == [
            "Status changed: running",
            "Status changed: failed",
            "Retry in place (previous error: boom)",
            "Status changed: pending (retry in place)",
            "Status changed: running",
            "Status changed: completed",
        ]
        assert [e.id for e in lines] == sorted({e.id for e in lines})
        tree = await dst.read_logs(LogQuery(root.id, aggregated=True, limit=1000))
        assert tree[: len(want)] == want
        assert [e for e in tree if e.job_id == kids[0].id] == lines
        assert await dst.recount() == []
    finally:
        await dst.close()
