"""The worker registry and the explain probes of the PostgreSQL backend."""

from __future__ import annotations

import time

from ..jobs.explain import (
    MAX_TYPES,
    RUNNING_CAP,
    ChildFacts,
    RunningChild,
    pending_type,
    type_cap,
)
from ..jobs.worker_registry import FORGET_AFTER, WorkerInfo
from .postgres_base import PgBase
from .postgres_tx import dumps, loads

__all__ = ["PgExplain"]

UPSERT_WORKER = """
INSERT INTO workers (id, host, pid, started_at, concurrency, job_types, running, processed,
                     heartbeat_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
    job_types = excluded.job_types, running = excluded.running,
    processed = excluded.processed, heartbeat_at = excluded.heartbeat_at,
    expires_at = excluded.expires_at
"""

LIST_WORKERS = """
SELECT id, host, pid, started_at, concurrency, job_types::text, running, processed,
       heartbeat_at, expires_at
FROM workers ORDER BY started_at, id
"""

# The pending children's job types by a loose index scan (one probe of
# jobs_parent_pending per type).
PENDING_TYPES = """
WITH RECURSIVE t(jt) AS (
    SELECT (SELECT MIN(job_type) FROM jobs WHERE parent_id = $1 AND status = 'pending')
    UNION ALL
    SELECT (SELECT MIN(job_type) FROM jobs
            WHERE parent_id = $1 AND status = 'pending' AND job_type > t.jt)
    FROM t WHERE t.jt IS NOT NULL
)
SELECT jt FROM t WHERE jt IS NOT NULL LIMIT $2
"""

# Per type, a capped count of all and of the not-due ones (earliest first), each a range
# of jobs_parent_pending (the ORDER BY keeps the planner on that index: without it, a
# LIMIT makes the claim index look cheaper, and it is a scan of all pending jobs).
PENDING_FACTS = """
SELECT types.jt, a.n, b.n, b.next_at, b.retries, b.next_retry
FROM unnest($3::text[]) AS types(jt)
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS n FROM (
        SELECT 1 FROM jobs
        WHERE parent_id = $1 AND status = 'pending' AND job_type = types.jt
        ORDER BY available_at LIMIT $4
    ) x
) a
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS n, MIN(available_at) AS next_at,
           COUNT(*) FILTER (WHERE attempts > 0) AS retries,
           MIN(available_at) FILTER (WHERE attempts > 0) AS next_retry
    FROM (
        SELECT available_at, attempts FROM jobs
        WHERE parent_id = $1 AND status = 'pending' AND job_type = types.jt
          AND available_at > $2
        ORDER BY available_at LIMIT $4
    ) y
) b
ORDER BY types.jt
"""

RUNNING_CHILDREN = """
SELECT id, job_type, lease_owner, heartbeat_at, lease_expires_at, waiting
FROM jobs WHERE parent_id = $1 AND status = 'running' ORDER BY id LIMIT $2
"""


class PgExplain(PgBase):
    """Mixed into :class:`~quaero.store.postgres.PostgresStore`."""

    async def register_worker(self, worker: WorkerInfo) -> None:
        w = worker
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                UPSERT_WORKER,
                w.id,
                w.host,
                w.pid,
                w.started_at,
                w.concurrency,
                dumps(sorted(w.job_types)),
                w.running,
                w.processed,
                w.heartbeat_at,
                w.expires_at,
            )
            await conn.execute(
                "DELETE FROM workers WHERE expires_at < $1", time.time() - FORGET_AFTER
            )

    async def unregister_worker(self, worker_id: str) -> None:
        await self.pool.execute("DELETE FROM workers WHERE id = $1", worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        rows = await self.pool.fetch(LIST_WORKERS)
        return [
            WorkerInfo(r[0], r[1], r[2], r[3], r[4], list(loads(r[5])), r[6], r[7], r[8], r[9])
            for r in rows
        ]

    async def child_facts(self, parent_id: int, now: float) -> ChildFacts:
        facts = ChildFacts()
        async with self.pool.acquire() as conn:
            types = [r[0] for r in await conn.fetch(PENDING_TYPES, parent_id, MAX_TYPES + 1)]
            facts.pending_types_complete = len(types) <= MAX_TYPES
            types = types[:MAX_TYPES]
            cap = type_cap(len(types))
            rows = []
            if types:
                rows = await conn.fetch(PENDING_FACTS, parent_id, now, types, cap + 1)
            running = await conn.fetch(RUNNING_CHILDREN, parent_id, RUNNING_CAP)
        for jt, n, nd, next_at, retries, next_retry in rows:
            facts.pending.append(pending_type(jt, cap, n, nd, next_at, retries, next_retry))
        facts.running = [RunningChild(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in running]
        return facts
