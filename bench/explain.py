"""Explain latency on a parent with 1,000,000 children (``GET /api/jobs/{id}/explain``).

Builds the tree directly in the store with one INSERT ... SELECT (seconds, not the
minutes a real fan-out takes), with a realistic mix: 60 % completed, 1 % failed, 20 %
pending and due, 10 % pending not due yet, 5 % retries scheduled, 4 % pending of a type
no live worker serves, and 64 running (half of them with expired leases); one live
worker in the registry. Then times ``app.explain(parent)`` (the whole answer: the
parent's row, the indexed child probes, the worker registry) and prints percentiles.

    .venv/bin/python bench/explain.py                      # SQLite in a temp dir
    eval "$(scripts/pg-start.sh)"
    .venv/bin/python bench/explain.py --pg-url "$QUAERO_TEST_PG_URL"   # and PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from quaero import App, Settings  # noqa: E402
from quaero.jobs.models import NewJob  # noqa: E402
from quaero.jobs.worker_registry import WorkerInfo  # noqa: E402

# the child's fields by i % 100 (i = 1..N); the first 64 children run instead
SELECT_CHILD = """
    CASE WHEN i <= 64 THEN 'running' WHEN i % 100 < 60 THEN 'completed'
         WHEN i % 100 = 60 THEN 'failed' ELSE 'pending' END,
    CASE WHEN i % 100 >= 96 AND i > 64 THEN 'lonely' ELSE 'noop' END,
    CASE WHEN i <= 64 OR i % 100 <= 60 OR (i % 100 BETWEEN 91 AND 95) THEN 1 ELSE 0 END,
    CASE WHEN i <= 64 THEN {now} - 60
         WHEN i % 100 BETWEEN 81 AND 90 THEN {now} + 60 + (i % 3600)
         WHEN i % 100 BETWEEN 91 AND 95 THEN {now} + 30 + (i % 60)
         ELSE {now} - 60 END,
    CASE WHEN i <= 64 THEN 'bench-worker' END,
    CASE WHEN i <= 32 THEN {now} - 5 WHEN i <= 64 THEN {now} + 600 END,
    CASE WHEN i <= 32 THEN {now} - 35 WHEN i <= 64 THEN {now} - 1 END,
    CASE WHEN i > 64 AND i % 100 <= 60 THEN {now} - 30 END
"""

COLUMNS = (
    "status, job_type, attempts, available_at, lease_owner, lease_expires_at,"
    " heartbeat_at, completed_at"
)


async def build_sqlite(app: App, parent: int, n: int, now: float) -> None:
    store: Any = app.store

    def op(ctx: Any) -> None:
        first = ctx.allocate_job_ids(n)
        ctx.conn.execute(
            f"""
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
            INSERT INTO jobs (id, parent_id, root_id, depth, name, created_at, {COLUMNS})
            SELECT ? + i - 1, ?, ?, 1, 'child', ?, {SELECT_CHILD.format(now=now)} FROM s
            """,
            (n, first, parent, parent, now - 120),
        )
        # the parent's exact counters (no ANALYZE: a real store has no statistics)
        ctx.conn.execute(_RECOUNT.replace("waiting = true", "waiting = 1"), (parent,))

    await store.run_in_transaction(op)


async def build_pg(app: App, parent: int, n: int, now: float) -> None:
    store: Any = app.store
    async with store.pool.acquire() as conn, conn.transaction():
        last = await conn.fetchval(
            "UPDATE quaero_counters SET value = value + $1 WHERE name = 'job_id' RETURNING value",
            n,
        )
        await conn.execute(
            f"""
            INSERT INTO jobs (id, parent_id, root_id, depth, name, created_at, {COLUMNS})
            SELECT $1::bigint + i - 1, $2::bigint, $2::bigint, 1, 'child', $3::float8,
                   {SELECT_CHILD.format(now=repr(now) + "::float8")}
            FROM generate_series(1, $4::bigint) AS i
            """,
            last - n + 1,
            parent,
            now - 120,
            n,
        )
        await conn.execute(_RECOUNT.replace("?", "$1"), parent)
    await store.pool.execute("ANALYZE jobs")  # as autovacuum would soon


_RECOUNT = """
UPDATE jobs SET
    child_total = (SELECT COUNT(*) FROM jobs c WHERE c.parent_id = jobs.id),
    child_pending = (SELECT COUNT(*) FROM jobs c WHERE c.parent_id = jobs.id AND c.status = 'pending'),
    child_running = (SELECT COUNT(*) FROM jobs c WHERE c.parent_id = jobs.id AND c.status = 'running'),
    child_completed = (SELECT COUNT(*) FROM jobs c WHERE c.parent_id = jobs.id AND c.status = 'completed'),
    child_failed = (SELECT COUNT(*) FROM jobs c WHERE c.parent_id = jobs.id AND c.status = 'failed'),
    status = 'running', waiting = true, lease_owner = NULL, lease_expires_at = NULL
WHERE id = ?
"""


async def fresh_pg(admin_url: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


async def drop_pg(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(url: str, n: int, repeat: int) -> None:
    settings = Settings()
    settings.store.url = url
    async with App(settings) as app:
        parent = (await app.store.create_jobs([NewJob("fanout", name="million")]))[0].id
        now = time.time()
        t0 = time.perf_counter()
        if app.store.dialect == "sqlite":
            await build_sqlite(app, parent, n, now)
        else:
            await build_pg(app, parent, n, now)
        built = time.perf_counter() - t0
        await app.store.register_worker(
            WorkerInfo(
                "bench-worker", "bench", os.getpid(), now - 600, 64, ["fanout", "noop"],
                32, 1000, now, now + 3600,
            )
        )  # fmt: skip
        job = await app.store.get_job(parent)
        assert job is not None and job.children.total == n, job
        answer = await app.explain(parent)  # warm-up (and the answer printed below)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            await app.explain(parent)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()

        def pct(p: float) -> float:
            return times[min(len(times) - 1, int(p / 100 * len(times)))]

        print(f"\n{app.store.dialect}: parent {parent} with {n:,} children built in {built:.1f} s")
        print(f"  counters: {job.children.as_dict()}")
        for line in answer["summary"]:
            print(f"  - {line}")
        print(
            f"  explain latency over {repeat} calls: p50 {pct(50):.2f} ms, p90 {pct(90):.2f} ms,"
            f" p99 {pct(99):.2f} ms, max {times[-1]:.2f} ms, mean {statistics.mean(times):.2f} ms"
        )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--children", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--pg-url", help="a PostgreSQL server (a fresh database is made on it)")
    args = ap.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite:///{tmp}/explain.db", args.children, args.repeat)
    if args.pg_url:
        name = f"quaero_explain_{os.getpid()}"
        url = await fresh_pg(args.pg_url, name)
        try:
            await run(url, args.children, args.repeat)
        finally:
            await drop_pg(args.pg_url, name)


if __name__ == "__main__":
    asyncio.run(main())
