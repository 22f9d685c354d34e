"""Retention on SQLite: pruning finished trees in small write transactions, vacuum,
bounded event pruning, deleting a crawl's documents.

Every write here is ONE writer operation that touches at most a few hundred jobs, so the
writer's transaction (which may also carry other operations) holds the write lock for a
few milliseconds, not for the size of a tree. Callers loop until a step says it is done.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping

from ..errors import JobNotFound, JobStateError
from ..jobs.models import Job, JobStatus
from ..jobs.planner import Planner
from . import sqlite_sql as q
from .base import PER_JOB_TABLES, PruneMark, PruneStep
from .sqlite_base import SqliteBase, _dumps, _loads, _row_to_job
from .sqlite_writer import TxContext

__all__ = ["SqliteRetention"]

#: events deleted per writer operation by :meth:`SqliteRetention.prune_events`
EVENT_CHUNK = 2000
#: documents handled per writer operation by ``delete_crawl_documents``
DOC_CHUNK = 200
#: pages freed per incremental vacuum statement
VACUUM_PAGES = 64
#: jobs deleted per statement batch of a prune step
BATCH = 100
#: a prune or vacuum step stops starting new batches after this long (the write lock is
#: held for about this plus one batch)
STEP_SECONDS = 0.02

_MARK = """
INSERT INTO job_prunes (job_id, pruned_at, children_only, child_total, child_pending,
                        child_running, child_completed, child_failed, child_cancelled)
SELECT id, ?, ?, child_total, child_pending, child_running, child_completed, child_failed,
       child_cancelled
FROM jobs WHERE id = ?
ON CONFLICT (job_id) DO UPDATE SET children_only = min(children_only, excluded.children_only)
"""


class SqliteRetention(SqliteBase):
    """Mixed into :class:`~quaero.store.sqlite.SqliteStore`."""

    async def prunable_trees(
        self, before: Mapping[JobStatus, float], children_only: bool, limit: int = 100
    ) -> list[Job]:
        extra = (
            " AND child_total > 0 AND EXISTS"
            " (SELECT 1 FROM jobs c WHERE c.root_id = jobs.id AND c.id != jobs.id)"
            if children_only
            else ""
        )

        def fn(c: sqlite3.Connection) -> list[Job]:
            out: list[Job] = []
            for status, cutoff in before.items():
                sql = (
                    f"SELECT {q.JOB_COLUMNS} FROM jobs INDEXED BY jobs_finished_top"
                    " WHERE parent_id IS NULL AND status = ? AND completed_at < ?"
                    f"{extra} ORDER BY completed_at LIMIT ?"
                )
                out.extend(_row_to_job(r) for r in c.execute(sql, (status.value, cutoff, limit)))
            out.sort(key=lambda j: (j.completed_at or 0.0, j.id))
            return out[:limit]

        return await self._read(fn)

    async def tree_size(self, job_id: int) -> int:
        return await self._read(
            lambda c: int(
                c.execute("SELECT COUNT(*) FROM jobs WHERE root_id = ?", (job_id,)).fetchone()[0]
            )
        )

    async def tree_active(self, job_id: int) -> bool:
        """True if a job of the tree is pending or running (it must not be pruned)."""
        return await self._read(
            lambda c: (
                c.execute(
                    "SELECT 1 FROM jobs WHERE root_id = ? AND status IN ('pending', 'running')"
                    " LIMIT 1",
                    (job_id,),
                ).fetchone()
                is not None
            )
        )

    async def prune_step(self, job_id: int, children_only: bool, limit: int = 500) -> PruneStep:
        def op(ctx: TxContext) -> PruneStep:
            conn = ctx.conn
            r = conn.execute(
                "SELECT parent_id, status FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if r is None:
                raise JobNotFound(job_id)
            if r[0] is not None or JobStatus(r[1]) not in _FINISHED:
                raise JobStateError(f"job {job_id} is not a finished top-level job")
            conn.execute(_MARK, (ctx.now, int(children_only), job_id))
            step = PruneStep()
            # small batches until the limit or the time budget: a loaded machine makes
            # each delete slower, never the write lock's hold longer than ~the budget
            started = time.perf_counter()
            while step.jobs < limit and time.perf_counter() - started < STEP_SECONDS:
                ids = [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM jobs WHERE root_id = ? AND id != ?"
                        " AND status NOT IN ('pending', 'running') LIMIT ?",
                        (job_id, job_id, min(BATCH, limit - step.jobs)),
                    )
                ]
                if not ids:
                    break
                n_jobs, n_logs = _delete_jobs(conn, ids)
                step.jobs += n_jobs
                step.logs += n_logs
            if step.jobs:
                return step
            left = conn.execute(
                "SELECT 1 FROM jobs WHERE root_id = ? AND id != ? LIMIT 1", (job_id, job_id)
            ).fetchone()
            if left is not None:  # only active jobs left: never pruned
                raise JobStateError(f"job {job_id} has pending or running jobs in its tree")
            step.done = True
            if children_only:
                return step
            jobs: dict[int, Job] = {}
            for row in conn.execute(q.SELECT_JOBS_BY_IDS.format(ids="?"), (job_id,)):
                jobs[job_id] = _row_to_job(row, full=False)
            step.jobs, step.logs = _delete_jobs(conn, [job_id])
            conn.execute("DELETE FROM job_prunes WHERE job_id = ?", (job_id,))
            plan = Planner(jobs, now=ctx.now)
            plan.delete(jobs[job_id])  # the job_deleted event (a top-level job: no counters)
            plan.dirty.discard(job_id)
            ctx.write_events(plan.events, _dumps)
            return step

        return await self._write(op)

    async def prune_marks(self) -> dict[int, PruneMark]:
        def fn(c: sqlite3.Connection) -> dict[int, PruneMark]:
            return {
                r[0]: PruneMark(
                    r[0], r[1], bool(r[2]), dict(zip(q.COUNTER_NAMES, r[3:9], strict=True))
                )
                for r in c.execute(
                    "SELECT job_id, pruned_at, children_only, child_total, child_pending,"
                    " child_running, child_completed, child_failed, child_cancelled"
                    " FROM job_prunes ORDER BY job_id"
                )
            }

        return await self._read(fn)

    async def vacuum(self, full: bool = False) -> int:
        if full:
            return await asyncio.to_thread(self._vacuum_full)

        def op(ctx: TxContext) -> int:
            page = int(ctx.conn.execute("PRAGMA page_size").fetchone()[0])
            before = int(ctx.conn.execute("PRAGMA page_count").fetchone()[0])
            started = time.perf_counter()
            after = before
            while time.perf_counter() - started < STEP_SECONDS:
                ctx.conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
                now = int(ctx.conn.execute("PRAGMA page_count").fetchone()[0])
                if now == after:
                    break
                after = now
            return (before - after) * page

        freed = 0
        while True:  # bounded steps: other writers get the lock between them
            n = await self._write(op)
            freed += n
            if n <= 0:
                return freed

    def _vacuum_full(self) -> int:
        import os

        before = os.path.getsize(self.path) if self.path != ":memory:" else 0
        conn = self._connect()
        try:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        after = os.path.getsize(self.path) if self.path != ":memory:" else 0
        return max(0, before - after)

    async def prune_events(self, older_than: float) -> int:
        # events have no index on created_at (bytes): created_at grows with seq, so the
        # cut is found by a binary search on seq, then deleted in small chunks
        def cut(c: sqlite3.Connection) -> int:
            lo, hi = c.execute("SELECT MIN(seq), MAX(seq) FROM events").fetchone()
            if lo is None:
                return 0
            hi -= 1  # keep the newest event: the sequence (event_bounds) never goes back
            best = lo - 1
            while lo <= hi:
                mid = (lo + hi) // 2
                row = c.execute(
                    "SELECT seq, created_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1",
                    (mid,),
                ).fetchone()
                if row is None or row[0] > hi or row[1] >= older_than:
                    hi = mid - 1
                else:
                    best = row[0]
                    lo = row[0] + 1
            return int(best)

        last = await self._read(cut)

        def op(ctx: TxContext) -> int:
            first = ctx.conn.execute("SELECT MIN(seq) FROM events").fetchone()[0]
            if first is None or first > last:
                return 0
            end = min(last, first + EVENT_CHUNK - 1)
            return ctx.conn.execute(
                "DELETE FROM events WHERE seq BETWEEN ? AND ?", (first, end)
            ).rowcount

        total = 0
        while n := await self._write(op):
            total += n
        return total

    async def delete_crawl_documents(self, crawl_id: int) -> tuple[int, int]:
        def op(ctx: TxContext) -> tuple[int, int]:
            conn = ctx.conn
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT document_id FROM document_jobs WHERE job_id = ? LIMIT ?",
                    (crawl_id, DOC_CHUNK),
                )
            ]
            if not ids:
                return (-1, 0)
            marks = ",".join("?" * len(ids))
            shared = {
                r[0]
                for r in conn.execute(
                    f"SELECT DISTINCT document_id FROM document_jobs"
                    f" WHERE document_id IN ({marks}) AND job_id != ?",
                    (*ids, crawl_id),
                )
            }
            conn.execute(
                f"DELETE FROM document_jobs WHERE job_id = ? AND document_id IN ({marks})",
                (crawl_id, *ids),
            )
            gone = [i for i in ids if i not in shared]
            if gone:
                conn.execute(
                    f"DELETE FROM documents WHERE id IN ({','.join('?' * len(gone))})", gone
                )
            for doc_id in shared:
                (raw,) = conn.execute(
                    "SELECT job_ids FROM documents WHERE id = ?", (doc_id,)
                ).fetchone()
                kept = [j for j in _loads(raw) if j != crawl_id]
                conn.execute(
                    "UPDATE documents SET job_ids = ? WHERE id = ?", (_dumps(kept), doc_id)
                )
            return (len(gone), len(shared))

        deleted = unlinked = 0
        while True:
            d, u = await self._write(op)
            if d < 0:
                return deleted, unlinked
            deleted += d
            unlinked += u


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


def _delete_jobs(conn: sqlite3.Connection, ids: list[int]) -> tuple[int, int]:
    """Delete jobs and their per-job rows (never their documents); (jobs, log rows)."""
    marks = ",".join("?" * len(ids))
    logs = 0
    for table in PER_JOB_TABLES:
        n = conn.execute(f"DELETE FROM {table} WHERE job_id IN ({marks})", ids).rowcount
        if table == "job_logs":
            logs = n
    conn.execute(f"DELETE FROM job_prunes WHERE job_id IN ({marks})", ids)
    jobs = conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", ids).rowcount
    return jobs, logs
