"""quaero adapter for the shared peer benchmark (../shared/peers, copied to a writable dir).

Install: copy this file to ``<peers>/peers/ours_peer.py`` and ``pip install -e <quaero>``
into the peers' venv (bench/peers/run.sh does both). W = async slots of ONE
``quaero worker`` process (like pgqueuer/procrastinate), on the embedded SQLite store, or
on PostgreSQL when ``QUAERO_BENCH_DB_URL=postgresql://...`` names a database (for
instance ``quaero_bench`` on the harness's own server, ``$PG_DSN`` with another database
name: each run drops and re-creates that database, never the peers' ``bench``).

Parent-complete mechanism: quaero's own: the parent's status becomes ``completed`` in the
same transaction as its last child's completion (exact per-parent counters); the driver
reads ``completed_at``. Progress observer: the parent's ``child_completed`` counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys

from peers import common

# beside the harness's other data (BENCH_RUN, from its env.sh), so two harness copies
# with their own BENCH_RUN never share a database
DB = os.environ.get("QUAERO_BENCH_DB") or os.path.join(
    os.environ.get("BENCH_RUN", "/tmp/peers-bench"), "quaero-bench.db"
)
URL = os.environ.get("QUAERO_BENCH_DB_URL") or f"sqlite:///{DB}"
PG = URL.startswith(("postgres://", "postgresql://"))
BACKEND = "postgres" if PG else "sqlite (embedded)"
CONCURRENCY_MODEL = "QUAERO_BENCH_PROCS processes (default 1) sharing W async slots (quaero worker --concurrency W/P --processes P)"
FANOUT_MECHANISM = (
    "native: parent status completed in the same transaction as its last child (O(1) counters)"
)
PROGRESS_MECHANISM = (
    "poll the parent's child_completed counter (also pushed as parent_job_progress events)"
)

_parent_id: int | None = None


def register(app):  # called by `quaero worker` through QUAERO_PLUGINS
    from quaero import NewJob

    @app.job("bench_ping")
    async def ping(ctx):
        common.mark_warm()

    @app.job("bench_child")
    async def child(ctx):
        common.mark_child_done()

    @app.job("bench_parent")
    async def parent(ctx):
        n = int(ctx.config["n"])
        for start in range(0, n, 5000):
            await ctx.spawn(
                NewJob("bench_child", dedupe_key=str(i)) for i in range(start, min(n, start + 5000))
            )


def _submit(job_type: str, config: dict, count: int = 1) -> int:
    from quaero import App, Settings

    async def go() -> int:
        s = Settings()
        s.store.url = URL
        app = App(s)
        register(app)
        async with app:
            ids = [(await app.submit(job_type, config)).id for _ in range(count)]
        return ids[-1]

    return asyncio.run(go())


def _pg_admin() -> tuple[str, str]:
    """The maintenance database's URL on the same server, and the bench database's name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(URL)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def setup_schema():
    if not PG:
        os.makedirs(os.path.dirname(DB), exist_ok=True)


def reset():
    global _obs
    if _obs is not None:
        _obs.close()
        _obs = None
    if PG:
        import asyncpg

        async def go() -> None:
            admin, name = _pg_admin()
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(go())
        return
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(DB + suffix)


def worker_argv(w):
    """W async slots in total, in QUAERO_BENCH_PROCS worker processes (default 1)."""
    exe = os.path.join(os.path.dirname(sys.executable), "quaero")
    procs = max(1, int(os.environ.get("QUAERO_BENCH_PROCS", "1")))
    # the driver builds the workers' environment before asking for argv: pass it here
    env = ["env", "QUAERO_PLUGINS=peers.ours_peer", "QUAERO_WORKER_POLL_INTERVAL=0.05"]
    # claiming ahead ("auto", for jobs under 50 ms) is what these no-op children want;
    # it is not quaero's default (see the README, "Claiming ahead"). Empty: no flag (a
    # quaero from before the flag, for "before" rows)
    prefetch = os.environ.get("QUAERO_BENCH_PREFETCH", "auto")
    one = [*env, exe, "--db", URL, "worker", "--concurrency", str(max(1, w // procs))]
    if prefetch:
        one += ["--prefetch", prefetch]
    if procs == 1:
        return one
    if os.environ.get("QUAERO_BENCH_SUPERVISOR", "1") == "1":
        # the product's own way: one supervisor, P worker processes (quaero worker --processes)
        return [*one, "--processes", str(procs)]
    # a quaero from before --processes ("before" rows): P processes under one shell
    line = " & ".join(" ".join(one) for _ in range(procs))
    return ["sh", "-c", f"{line} & wait"]


def enqueue_warmup(n):
    _submit("bench_ping", {}, n)


def enqueue_flat(n):
    raise NotImplementedError("quaero adapter implements the fanout workload")


def start_fanout(n):
    global _parent_id
    _parent_id = _submit("bench_parent", {"n": n})


_obs = None


def _row(sql, *params):
    """One row from the observer's connection, opened once and kept (as the pgqueuer
    adapter keeps its psycopg connection): a connection per 20 ms poll costs the
    database a backend start-up each time, on the same two cores as the workers."""
    global _obs
    if PG:
        import psycopg

        if _obs is None:
            _obs = psycopg.connect(URL, autocommit=True)
        return _obs.execute(sql.replace("?", "%s"), params).fetchone()
    if _obs is None:
        _obs = sqlite3.connect(DB, timeout=30, isolation_level=None)
    return _obs.execute(sql, params).fetchone()


def fanout_done():
    r = _row("SELECT completed_at FROM jobs WHERE id = ? AND status = 'completed'", _parent_id)
    return float(r[0]) if r else None


def fanout_progress():
    r = _row("SELECT child_completed FROM jobs WHERE id = ?", _parent_id)
    return int(r[0]) if r else 0
