"""The commit hook (migrations 0004, 0007) makes parent progress in SQL: it must say exactly what
:func:`quaero.jobs.progress.progress_payload` says, for every status and count."""

from __future__ import annotations

import itertools
import random

import asyncpg
import orjson
import pytest

from quaero.jobs.models import Counters, JobStatus, NewJob, StatusChange
from quaero.jobs.progress import progress_payload, progress_text, timing
from quaero.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


async def fold(conn: asyncpg.Connection, job_id: int, delta: list[int], now: float) -> None:
    """A transaction that only changes ``job_id``'s counters by ``delta`` (via the hook)."""
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('quaero.deltas', $1, true), set_config('quaero.meta', $2, true)",
            orjson.dumps([[job_id, *delta]]).decode(),
            orjson.dumps({"now": now, "ts": "T", "log_interval": 2.0}).decode(),
        )
        await conn.execute("INSERT INTO quaero_commit_hook VALUES (pg_backend_pid())")


async def test_sql_progress_matches_python_for_every_status_and_count(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    rnd = random.Random(3)
    try:
        cases = list(
            itertools.product(
                [s.value for s in JobStatus], [0, 1, 2], [0, 1], [0, 2], [0, 1], [0, 3]
            )
        )
        for i, (status, pending, running, completed, failed, cancelled) in enumerate(cases, 1):
            c = Counters(pending + running + completed + failed + cancelled, pending, running,
                         completed, failed, cancelled)  # fmt: skip
            await conn.execute(
                "INSERT INTO jobs (id, root_id, job_type, status, created_at, child_total,"
                " child_pending, child_running, child_completed, child_failed, child_cancelled,"
                " progress_logged_at, started_at)"
                " VALUES ($1, $1, 'x', $2, 0, $3, $4, $5, $6, $7, $8, $9, 50)",
                i, status, c.total, c.pending, c.running, c.completed, c.failed, c.cancelled,
                rnd.choice([0.0, 99.5]),
            )  # fmt: skip
            await fold(conn, i, [0] * 6, now=100.0)
            rows = await conn.fetch(
                "SELECT type, payload::text FROM events WHERE job_id = $1 ORDER BY seq", i
            )
            got = [(r[0], orjson.loads(r[1])) for r in rows]
            samples = await conn.fetchval(
                "SELECT progress_samples::text FROM jobs WHERE id = $1", i
            )
            times = timing(JobStatus(status), c, orjson.loads(samples), 100.0, 50.0, None)
            want = progress_payload(i, JobStatus(status), c, "T", Counters(), times)
            assert got[0] == ("parent_job_progress", want), (status, c)
            # a log line every 2 s, and always once no child is active
            logged = await conn.fetchval("SELECT progress_logged_at FROM jobs WHERE id = $1", i)
            if logged == 100.0:
                assert got[1] == (
                    "log",
                    {"job_id": i, "timestamp": "T", "level": "info", "message": progress_text(c)},
                )
            else:
                assert len(got) == 1 and c.active > 0
        seqs = await conn.fetch("SELECT seq FROM events ORDER BY seq")
        assert [r[0] for r in seqs] == list(range(1, len(seqs) + 1))
    finally:
        await conn.close()


async def test_deltas_add_up_and_a_waiting_parent_is_finished(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    conn = await asyncpg.connect(pg_url)
    try:
        [root] = await store.create_jobs([NewJob("fanout")])
        [root] = await store.claim_jobs("w", 1, 60, ["fanout"])
        await store.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(2)])
        await store.apply_changes(
            [StatusChange(root.id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
        )
        # two children finish behind the store's back, the way a crashed process would
        # leave them: counters moved by the hook, nobody finished the parent
        await conn.execute("UPDATE jobs SET status = 'completed' WHERE parent_id = $1", root.id)
        await fold(conn, root.id, [0, -2, 0, 2, 0, 0] * 2 + [1], now=200.0)
        waiting = await store.get_job(root.id)
        assert waiting and waiting.status is JobStatus.RUNNING and waiting.waiting
        assert waiting.children.completed == 2 and waiting.children.active == 0
        assert await store.requeue_expired() == []  # ... and the sweeper finishes it
        done = await store.get_job(root.id)
        assert done and done.status is JobStatus.COMPLETED and not done.waiting
        assert await store.recount() == []
    finally:
        await conn.close()
        await store.close()


@pytest.mark.parametrize("events", ["taken by on_commit", "not taken"])
async def test_a_parent_finishes_with_its_last_child_in_the_same_call(
    pg_url: str, events: str
) -> None:
    """The hook reports waiting parents it found done: read back after COMMIT when
    ``on_commit`` takes the events, else in a NOTICE with the COMMIT's reply (0015)."""
    seen: list[int] = []
    store = PostgresStore(pg_url)
    if events == "taken by on_commit":
        store.on_commit = lambda evs: seen.extend(e.seq for e in evs)
    await store.open()
    try:
        [root] = await store.create_jobs([NewJob("fanout")])
        [root] = await store.claim_jobs("w", 1, 60, ["fanout"])
        await store.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(3)])
        await store.apply_changes(
            [StatusChange(root.id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
        )
        kids = await store.claim_jobs("w", 3, 60, ["noop"])
        for i, kid in enumerate(kids):
            await store.apply_changes(
                [StatusChange(kid.id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
            )
            parent = await store.get_job(root.id)
            assert parent is not None
            last = i == len(kids) - 1
            assert parent.status is (JobStatus.COMPLETED if last else JobStatus.RUNNING)
        assert bool(seen) == (events == "taken by on_commit")
        assert await store.recount() == []
    finally:
        await store.close()
