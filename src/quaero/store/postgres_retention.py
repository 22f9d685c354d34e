"""Retention on PostgreSQL: pruning finished trees in small transactions, vacuum, bounded
event pruning, deleting a crawl's documents.

Each statement is an index lookup (``jobs_finished_top``, ``jobs_root``, the per-job
primary keys), never a scan of a whole table: the transactions here turn sequential
scans off (``SET LOCAL enable_seqscan``), since a generic plan's estimate for one tree
of a few huge ones could favour a scan. Each transaction deletes at most a few hundred
jobs. A prune step locks the tree's top-level job first, so processes pruning
the same tree at once take turns and never delete a row twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import asyncpg

from ..errors import JobNotFound, JobStateError
from ..jobs.models import Job, JobStatus
from ..jobs.planner import Planner
from . import postgres_sql as q
from .base import PER_JOB_TABLES, PruneMark, PruneStep
from .postgres_base import PgBase
from .postgres_tx import PgTx, row_to_job

__all__ = ["PgRetention", "fetch_prune_marks"]

#: events / documents handled per transaction
EVENT_CHUNK = 5000
DOC_CHUNK = 200

_NO_SCANS = "SET LOCAL enable_seqscan = off"

_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

_PRUNABLE = f"""
SELECT {q.JOB_COLUMNS} FROM jobs
WHERE parent_id IS NULL AND status = $1 AND completed_at < $2 AND (NOT $4 OR (
    child_total > 0
    AND EXISTS (SELECT 1 FROM jobs c WHERE c.root_id = jobs.id AND c.id <> jobs.id)))
ORDER BY completed_at LIMIT $3
"""

_MARK = """
INSERT INTO job_prunes (job_id, pruned_at, children_only, child_total, child_pending,
                        child_running, child_completed, child_failed, child_cancelled)
SELECT id, $2, $3, child_total, child_pending, child_running, child_completed, child_failed,
       child_cancelled
FROM jobs WHERE id = $1
ON CONFLICT (job_id) DO UPDATE SET children_only = job_prunes.children_only
                                                  AND excluded.children_only
"""

_CHUNK = """
SELECT id FROM jobs
WHERE root_id = $1 AND id <> $1 AND status NOT IN ('pending', 'running')
LIMIT $2 FOR UPDATE
"""

_MARKS = """
SELECT job_id, pruned_at, children_only, child_total, child_pending, child_running,
       child_completed, child_failed, child_cancelled
FROM job_prunes ORDER BY job_id
"""

# keeps the newest event, so the sequence (and event_bounds) never goes backwards
_PRUNE_EVENTS = """
DELETE FROM events WHERE seq = ANY(ARRAY(
    SELECT seq FROM events
    WHERE created_at < $1 AND seq < (SELECT value FROM quaero_counters WHERE name = 'event_seq')
    ORDER BY created_at LIMIT $2))
"""

_CRAWL_DOCS = "SELECT document_id FROM document_jobs WHERE job_id = $1 LIMIT $2"
_SHARED_DOCS = """
SELECT DISTINCT document_id FROM document_jobs
WHERE document_id = ANY($1::bigint[]) AND job_id <> $2
"""
_UNLINK_DOC = """
UPDATE documents SET job_ids = (
    SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
    FROM jsonb_array_elements(job_ids) WITH ORDINALITY AS t(e, n)
    WHERE e <> to_jsonb($2::bigint))
WHERE id = ANY($1::bigint[])
"""


class PgRetention(PgBase):
    """Mixed into :class:`~quaero.store.postgres.PostgresStore`."""

    @contextlib.asynccontextmanager
    async def _indexed(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in a transaction whose statements use indexes, never a scan."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_NO_SCANS)
            yield conn

    async def prunable_trees(
        self, before: Mapping[JobStatus, float], children_only: bool, limit: int = 100
    ) -> list[Job]:
        out: list[Job] = []
        async with self._indexed() as conn:
            for status, cutoff in before.items():
                rows = await conn.fetch(_PRUNABLE, status.value, cutoff, limit, children_only)
                out.extend(row_to_job(r) for r in rows)
        out.sort(key=lambda j: (j.completed_at or 0.0, j.id))
        return out[:limit]

    async def tree_size(self, job_id: int) -> int:
        async with self._indexed() as conn:
            return int(await conn.fetchval("SELECT COUNT(*) FROM jobs WHERE root_id = $1", job_id))

    async def tree_active(self, job_id: int) -> bool:
        async with self._indexed() as conn:
            return bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM jobs WHERE root_id = $1"
                    " AND status IN ('pending', 'running'))",
                    job_id,
                )
            )

    async def prune_step(self, job_id: int, children_only: bool, limit: int = 500) -> PruneStep:
        async def op(tx: PgTx) -> PruneStep:
            await tx.conn.execute(_NO_SCANS)
            await tx.lock(q.LOCK_IDS, [job_id])
            if job_id not in tx.rows:
                raise JobNotFound(job_id)
            root = row_to_job(tx.rows[job_id])
            if root.parent_id is not None or root.status not in _FINISHED:
                raise JobStateError(f"job {job_id} is not a finished top-level job")
            conn = tx.conn
            await conn.execute(_MARK, job_id, tx.now, children_only)
            ids = [r[0] for r in await conn.fetch(_CHUNK, job_id, limit)]
            step = PruneStep()
            if ids:
                step.jobs, step.logs = await _delete_jobs(conn, ids)
                return step
            left = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE root_id = $1 AND id <> $1)", job_id
            )
            if left:
                raise JobStateError(f"job {job_id} has pending or running jobs in its tree")
            step.done = True
            if children_only:
                return step
            step.jobs, step.logs = await _delete_jobs(conn, [job_id])
            plan = Planner({job_id: root}, now=tx.now)
            plan.delete(root)  # the job_deleted event (a top-level job: no counters)
            await tx.write_events(plan.events)
            return step

        return await self._run(op)

    async def prune_marks(self) -> dict[int, PruneMark]:
        return await fetch_prune_marks(self.pool)

    async def vacuum(self, full: bool = False) -> int:
        # after a prune (full=False) autovacuum does the work; `quaero db vacuum` runs a
        # plain VACUUM: freed space is reused by PostgreSQL (VACUUM FULL would lock the
        # tables for its whole run); outside any transaction, table by table
        if not full:
            return 0
        async with self.pool.acquire() as conn:
            for table in ("jobs", *PER_JOB_TABLES, "job_prunes", "events"):
                await conn.execute(f"VACUUM (ANALYZE) {table}")
        return 0

    async def prune_events(self, older_than: float) -> int:
        total = 0
        while True:
            async with self._indexed() as conn:
                status = await conn.execute(_PRUNE_EVENTS, older_than, EVENT_CHUNK)
            n = int(status.split()[-1])
            total += n
            if n < EVENT_CHUNK:
                return total

    async def delete_crawl_documents(self, crawl_id: int) -> tuple[int, int]:
        deleted = unlinked = 0
        while True:
            async with self._indexed() as conn:
                ids = [r[0] for r in await conn.fetch(_CRAWL_DOCS, crawl_id, DOC_CHUNK)]
                if not ids:
                    return deleted, unlinked
                shared = [r[0] for r in await conn.fetch(_SHARED_DOCS, ids, crawl_id)]
                await conn.execute(
                    "DELETE FROM document_jobs WHERE job_id = $1 AND document_id = ANY($2::bigint[])",
                    crawl_id,
                    ids,
                )
                gone = sorted(set(ids) - set(shared))
                if gone:
                    await conn.execute("DELETE FROM documents WHERE id = ANY($1::bigint[])", gone)
                if shared:
                    await conn.execute(_UNLINK_DOC, shared, crawl_id)
                deleted += len(gone)
                unlinked += len(shared)


async def fetch_prune_marks(pool: asyncpg.Pool) -> dict[int, PruneMark]:
    """Every row of ``job_prunes`` (few: one per pruned parent or tree being pruned)."""
    rows = await pool.fetch(_MARKS)
    return {
        r[0]: PruneMark(
            r[0], r[1], bool(r[2]), dict(zip(q.COUNTER_NAMES, map(int, r[3:9]), strict=True))
        )
        for r in rows
    }


async def _delete_jobs(conn: asyncpg.Connection, ids: list[int]) -> tuple[int, int]:
    """Delete jobs and their per-job rows (never their documents); (jobs, log rows)."""
    logs = 0
    for table in PER_JOB_TABLES:
        status = await conn.execute(f"DELETE FROM {table} WHERE job_id = ANY($1::bigint[])", ids)
        if table == "job_logs":
            logs = int(status.split()[-1])
    await conn.execute("DELETE FROM job_prunes WHERE job_id = ANY($1::bigint[])", ids)
    status = await conn.execute("DELETE FROM jobs WHERE id = ANY($1::bigint[])", ids)
    return int(status.split()[-1]), logs
