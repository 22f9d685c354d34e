"""The worker registry and the explain probes of the SQLite backend."""

from __future__ import annotations

import sqlite3

from ..jobs.explain import (
    MAX_TYPES,
    RUNNING_CAP,
    ChildFacts,
    RunningChild,
    pending_type,
    type_cap,
)
from ..jobs.worker_registry import FORGET_AFTER, WorkerInfo
from .sqlite_base import SqliteBase, _dumps, _loads
from .sqlite_writer import TxContext

__all__ = ["SqliteExplain"]

UPSERT_WORKER = """
INSERT INTO workers (id, host, pid, started_at, concurrency, job_types, running, processed,
                     heartbeat_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
    job_types = excluded.job_types, running = excluded.running,
    processed = excluded.processed, heartbeat_at = excluded.heartbeat_at,
    expires_at = excluded.expires_at
"""

WORKER_COLUMNS = (
    "id, host, pid, started_at, concurrency, job_types, running, processed, heartbeat_at,"
    " expires_at"
)

# a loose index scan: each step is one probe of jobs_parent_pending for the next type
PENDING_TYPES = """
WITH RECURSIVE t(jt) AS (
    SELECT (SELECT MIN(job_type) FROM jobs INDEXED BY jobs_parent_pending
            WHERE parent_id = ?1 AND status = 'pending')
    UNION ALL
    SELECT (SELECT MIN(job_type) FROM jobs INDEXED BY jobs_parent_pending
            WHERE parent_id = ?1 AND status = 'pending' AND job_type > t.jt)
    FROM t WHERE t.jt IS NOT NULL
)
SELECT jt FROM t WHERE jt IS NOT NULL LIMIT ?2
"""

PENDING_OF_TYPE = """
SELECT COUNT(*) FROM (
    SELECT 1 FROM jobs INDEXED BY jobs_parent_pending
    WHERE parent_id = ? AND status = 'pending' AND job_type = ? LIMIT ?
)
"""

# the earliest not-due children of a type (in due order), counted up to the cap
NOT_DUE_OF_TYPE = """
SELECT COUNT(*), MIN(available_at), SUM(attempts > 0),
       MIN(CASE WHEN attempts > 0 THEN available_at END)
FROM (
    SELECT available_at, attempts FROM jobs INDEXED BY jobs_parent_pending
    WHERE parent_id = ? AND status = 'pending' AND job_type = ? AND available_at > ?
    ORDER BY available_at LIMIT ?
)
"""

RUNNING_CHILDREN = """
SELECT id, job_type, lease_owner, heartbeat_at, lease_expires_at, waiting
FROM jobs INDEXED BY jobs_parent
WHERE parent_id = ? AND status = 'running' ORDER BY id LIMIT ?
"""


def worker_row(w: WorkerInfo) -> tuple[object, ...]:
    return (
        w.id,
        w.host,
        w.pid,
        w.started_at,
        w.concurrency,
        _dumps(sorted(w.job_types)),
        w.running,
        w.processed,
        w.heartbeat_at,
        w.expires_at,
    )


class SqliteExplain(SqliteBase):
    """Worker rows (writes through the writer thread) and the child-facts probes."""

    async def register_worker(self, worker: WorkerInfo) -> None:
        row = worker_row(worker)

        def op(ctx: TxContext) -> None:
            ctx.conn.execute(UPSERT_WORKER, row)
            ctx.conn.execute("DELETE FROM workers WHERE expires_at < ?", (ctx.now - FORGET_AFTER,))

        await self._write(op)

    async def unregister_worker(self, worker_id: str) -> None:
        def op(ctx: TxContext) -> None:
            ctx.conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

        await self._write(op)

    async def list_workers(self) -> list[WorkerInfo]:
        def fn(c: sqlite3.Connection) -> list[WorkerInfo]:
            rows = c.execute(f"SELECT {WORKER_COLUMNS} FROM workers ORDER BY started_at, id")
            return [
                WorkerInfo(r[0], r[1], r[2], r[3], r[4], list(_loads(r[5])), r[6], r[7], r[8], r[9])
                for r in rows
            ]

        return await self._read(fn)

    async def child_facts(self, parent_id: int, now: float) -> ChildFacts:
        def fn(c: sqlite3.Connection) -> ChildFacts:
            facts = ChildFacts()
            types = [r[0] for r in c.execute(PENDING_TYPES, (parent_id, MAX_TYPES + 1))]
            facts.pending_types_complete = len(types) <= MAX_TYPES
            types = types[:MAX_TYPES]
            cap = type_cap(len(types))
            for job_type in types:
                n = c.execute(PENDING_OF_TYPE, (parent_id, job_type, cap + 1)).fetchone()[0]
                nd, next_at, retries, next_retry = c.execute(
                    NOT_DUE_OF_TYPE, (parent_id, job_type, now, cap + 1)
                ).fetchone()
                facts.pending.append(
                    pending_type(job_type, cap, n, nd, next_at, retries, next_retry)
                )
            facts.running = [
                RunningChild(r[0], r[1], r[2], r[3], r[4], bool(r[5]))
                for r in c.execute(RUNNING_CHILDREN, (parent_id, RUNNING_CAP))
            ]
            return facts

        return await self._read(fn)
