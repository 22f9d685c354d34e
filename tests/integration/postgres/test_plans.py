"""The hot statements' generic plans are index lookups, never a scan of all jobs.

Plans are generic (``plan_cache_mode = force_generic_plan``) and made once per connection,
often while the tables are still small and before autovacuum's first ANALYZE. A statement
the planner may turn into a scan of ``jobs`` makes every claim or completion O(jobs), and
a 100,000-child run quadratic (the claim's parent lookup once did exactly that, and the
claim itself sorted every pending job while the statistics said "about one")."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store import postgres_sql as q
from quaero.store.postgres import _SETTINGS, PostgresStore

pytestmark = pytest.mark.postgres

HOT = {
    "CLAIM": (q.CLAIM, (1e12, ["noop"], 16)),
    "LOCK_AND_CLAIM": (q.LOCK_AND_CLAIM, ([5000, 5001], 1e12, ["noop"], 16)),
    "LOCK_CHANGED": (q.LOCK_CHANGED, ([5000, 5001],)),
    "EXPIRED": (q.EXPIRED, (1e12, 100)),
    "LOCK_WITH_PARENTS": (q.LOCK_WITH_PARENTS, ([5000],)),
    "LOCK_IDS": (q.LOCK_IDS, ([5000],)),
    "DEDUPE_TAKEN": (q.DEDUPE_TAKEN, ([1], ["a"], ["b"])),
    "HEARTBEAT": (q.HEARTBEAT, (1.0, 1.0, "w", [5000])),
    "READY_PARENTS": (q.READY_PARENTS, (100,)),
    "SET_PROGRESS": (q.SET_PROGRESS, (5000, "{}", "{}", 1.0)),
    "ADD_LOGS": (q.ADD_LOGS, ([5000], [1.0], ["info"], ["m"], ["{}"], True, 1.0)),
}


async def _plans(conn: asyncpg.Connection) -> None:
    for name, (sql, args) in HOT.items():
        tx = conn.transaction()
        await tx.start()
        try:
            plan = "\n".join(
                r[0] for r in await (await conn.prepare("EXPLAIN " + sql)).fetch(*args)
            )
        finally:
            await tx.rollback()
        assert "Seq Scan on jobs" not in plan, f"{name} scans all jobs:\n{plan}"


async def _claim_blocks(conn: asyncpg.Connection) -> int:
    """Buffers one claim of 16 jobs touches (the claim function's scan included), once
    the connection has made its plans (its first call also reads the catalogs)."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.fetch(q.CLAIM, 1e12, ["noop"], 16)
    finally:
        await tx.rollback()
    tx = conn.transaction()
    await tx.start()
    try:
        [row] = await conn.fetch(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + q.CLAIM, 1e12, ["noop"], 16
        )
        top = orjson.loads(row[0])[0]["Plan"]
    finally:
        await tx.rollback()
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


async def test_hot_statements_never_scan_all_jobs(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        [root] = await store.create_jobs([NewJob("fanout")])
        for _ in range(4):
            await store.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(5000)])
    finally:
        await store.close()
    # the store's own connection settings, before and after the statistics exist
    conn = await asyncpg.connect(pg_url, server_settings=_SETTINGS)
    try:
        for analyzed in (False, True):
            if analyzed:
                await conn.execute("ANALYZE jobs")
            await _plans(conn)
            # 20,000 pending jobs fill ~500 pages; a claim of 16 reads a few of them
            blocks = await _claim_blocks(conn)
            assert blocks < 150, f"a claim of 16 touched {blocks} buffers (analyzed={analyzed})"
    finally:
        await conn.close()


async def test_a_claim_reads_few_buffers_behind_jobs_it_cannot_take(pg_url: str) -> None:
    """20,000 pending jobs of a type the claim does not ask for and 5,000 retries not due
    for an hour sit before 16 due jobs: a claim of 16 reads about as much as with no
    backlog (before migration 0017 it walked every one of them: thousands of buffers)."""
    store = PostgresStore(pg_url)
    await store.open()
    try:
        [root] = await store.create_jobs([NewJob("fanout")])
        for _ in range(4):
            await store.create_jobs([NewJob("ghost", parent_id=root.id) for _ in range(5000)])
        await store.create_jobs(
            [NewJob("noop", parent_id=root.id, delay=3600) for _ in range(5000)]
        )
        await store.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(16)])
    finally:
        await store.close()
    conn = await asyncpg.connect(pg_url, server_settings=_SETTINGS)
    try:
        for analyzed in (False, True):
            if analyzed:
                await conn.execute("ANALYZE jobs")
            blocks = await _claim_blocks(conn)
            assert blocks < 150, f"a claim of 16 touched {blocks} buffers (analyzed={analyzed})"
    finally:
        await conn.close()


async def test_a_tree_log_page_reads_few_buffers_whatever_the_direction(pg_url: str) -> None:
    """``jobs logs ROOT --aggregated`` (and ``--tail``) on a fan-out of 20,000 children that
    never ran (no status line on their rows): a page of lines is a few index pages, not
    a walk over every child's index entry or row."""
    store = PostgresStore(pg_url)
    await store.open()
    try:
        [root] = await store.create_jobs([NewJob("fanout")])
        [root] = await store.claim_jobs("w", 1, 60, ["fanout"])
        for _ in range(4):
            await store.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(5000)])
        for kid in await store.claim_jobs("w", 30, 60, ["noop"]):
            await store.apply_changes(
                [StatusChange(kid.id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
            )
    finally:
        await store.close()
    conn = await asyncpg.connect(pg_url, server_settings=_SETTINGS)
    try:
        for analyzed in (False, True):
            if analyzed:
                await conn.execute("ANALYZE")
            for template, column in ((q.RUN_LINES, "run_log_id"), (q.END_LINES, "end_log_id")):
                for direction in ("ASC", "DESC"):
                    where = (
                        f"root_id = $1 AND {column} IS NOT NULL"
                        f" ORDER BY {column} {direction} LIMIT $2"
                    )
                    sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + template.format(where=where)
                    [row] = await (await conn.prepare(sql)).fetch(root.id, 50)
                    top = orjson.loads(row[0])[0]["Plan"]
                    blocks = int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])
                    assert blocks < 40, (column, direction, analyzed, blocks, top)
    finally:
        await conn.close()
