"""The embedded default store: SQLite in WAL mode, one writer thread, pooled readers.

Writes go through :class:`~quaero.store.sqlite_writer.Writer`, which commits whatever
operations are waiting in one transaction. Reads (``sqlite_reads.py``) run on a small
thread pool, each thread with its own read connection (WAL lets them read while the
writer writes). Documents and their full-text index live in ``sqlite_documents.py``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import JobNotFound, JobStateError
from ..events.types import JOB_PROGRESS, JOB_STATUS_CHANGE, LOG, Event, NewEvent
from ..jobs.models import Job, JobStatus, NewJob, SpawnResult, StatusChange
from ..jobs.planner import ChangeResult, Planner
from . import sqlite_plans as plans
from . import sqlite_sql as q
from .base import (
    MAX_REFERRERS,
    LogEntry,
    Page,
    check_log_levels,
    check_specs,
    page_keys,
    plan_page_depths,
)
from .sqlite_base import _CHUNK, _chunks, _dumps, _loads
from .sqlite_documents import SqliteDocuments
from .sqlite_explain import SqliteExplain
from .sqlite_hosts import SqliteHosts
from .sqlite_plans import JobRows
from .sqlite_reads import SqliteReads
from .sqlite_retention import SqliteRetention
from .sqlite_worker_ops import WorkerStep
from .sqlite_writer import TxContext

__all__ = ["SqliteStore"]

T = TypeVar("T")


class SqliteStore(SqliteRetention, SqliteDocuments, SqliteExplain, SqliteReads, SqliteHosts):
    """SQLite (WAL) store at ``sqlite:///path/to/quaero.db`` or a plain path."""

    #: a worker's flush claims in its own transaction (one plan, see WorkerStep)
    claims_with_changes = True

    def _load(
        self, ctx: TxContext, ids: Iterable[int], into: dict[int, Job], full: bool = False
    ) -> None:
        plans.load(ctx, ids, into, full)

    def _load_ancestors(self, ctx: TxContext, jobs: dict[int, Job]) -> None:
        plans.load_ancestors(ctx, jobs)

    def _write_plan(self, ctx: TxContext, plan: Planner) -> list[Event]:
        return plans.write_plan(ctx, plan)

    def _load_active_below(self, ctx: TxContext, ids: Iterable[int], jobs: JobRows) -> None:
        """Load the pending and running jobs below each of ``ids`` (what the failure rule
        cancels when one of them ends failed or cancelled)."""
        below: list[int] = []
        for i in ids:
            job = jobs.get(i)
            if job is not None and job.children.active > 0:
                below.extend(r[0] for r in ctx.conn.execute(q.ACTIVE_BELOW, (i,)))
        self._load(ctx, below, jobs)

    # ------------------------------------------------------------------ job writes
    async def spawn_children(
        self, specs: Sequence[NewJob], max_children: int | None = None
    ) -> SpawnResult:
        specs = list(specs)
        check_specs(specs)

        def op(ctx: TxContext) -> SpawnResult:
            jobs = JobRows()
            parent_ids = {s.parent_id for s in specs if s.parent_id is not None}
            self._load(ctx, parent_ids, jobs)
            self._load_ancestors(ctx, jobs)
            todo = self._drop_duplicates(ctx, specs)
            result = SpawnResult(duplicates=len(specs) - len(todo))
            if not todo:
                return result
            plan = Planner(jobs, now=ctx.now)
            first = ctx.allocate_job_ids(len(todo))
            result.created = plan.create(
                todo, first, self.default_max_attempts, max_children, self.tree_limits
            )
            result.over_budget = plan.over_budget
            result.over_budget_keys = plan.over_budget_keys
            if plan.over_budget:  # ids were reserved for all; give back the unused tail
                ctx.release_job_ids(plan.over_budget)
            plan.finish()
            self._write_plan(ctx, plan)
            return result

        return await self._write(op)

    async def record_skips(self, job_id: int, skips: Mapping[str, str]) -> dict[str, int]:
        items = sorted(skips.items())
        if not items:
            return {}

        def op(ctx: TxContext) -> dict[str, int]:
            conn = ctx.conn
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            counts: Counter[str] = Counter()
            for url, reason in items:
                if conn.execute(q.INSERT_SKIP, (job_id, url, reason)).rowcount:
                    counts[f"skipped_{reason}"] += 1
            conn.executemany(q.ADD_JOB_STAT, [(job_id, k, v) for k, v in counts.items()])
            return dict(counts)

        return await self._write(op)

    async def list_skips(
        self, job_id: int, reason: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        where = "job_id = ?"
        params: list[Any] = [job_id]
        if reason:
            where += " AND reason = ?"
            params.append(reason)

        def fn(c: sqlite3.Connection) -> Page:
            total = c.execute(f"SELECT COUNT(*) FROM job_skips WHERE {where}", params).fetchone()[0]
            rows = c.execute(
                f"SELECT url, reason FROM job_skips WHERE {where} ORDER BY url LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
            return Page([{"url": r[0], "reason": r[1]} for r in rows], int(total))

        return await self._read(fn)

    async def record_broken_link(
        self, job_id: int, url: str, status: int, referrers: Sequence[str]
    ) -> bool:
        def op(ctx: TxContext) -> bool:
            conn = ctx.conn
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            row = conn.execute(
                "SELECT referrers FROM job_broken_links WHERE job_id = ? AND url = ?",
                (job_id, url),
            ).fetchone()
            if row is None:
                refs = list(dict.fromkeys(referrers))[:MAX_REFERRERS]
                conn.execute(
                    "INSERT INTO job_broken_links (job_id, url, status, referrers)"
                    " VALUES (?, ?, ?, ?)",
                    (job_id, url, status, _dumps(refs)),
                )
                conn.execute(q.ADD_JOB_STAT, (job_id, "broken_links", 1))
                return True
            refs = list(dict.fromkeys([*_loads(row[0]), *referrers]))[:MAX_REFERRERS]
            conn.execute(
                "UPDATE job_broken_links SET status = ?, referrers = ? WHERE job_id = ? AND url = ?",
                (status, _dumps(refs), job_id, url),
            )
            return False

        return await self._write(op)

    async def list_broken_links(self, job_id: int, limit: int = 50, offset: int = 0) -> Page:
        def fn(c: sqlite3.Connection) -> Page:
            total = c.execute(
                "SELECT COUNT(*) FROM job_broken_links WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            rows = c.execute(
                "SELECT url, status, referrers FROM job_broken_links WHERE job_id = ?"
                " ORDER BY url LIMIT ? OFFSET ?",
                (job_id, limit, offset),
            ).fetchall()
            items = [{"url": r[0], "status": r[1], "referrers": _loads(r[2])} for r in rows]
            return Page(items, int(total))

        return await self._read(fn)

    async def record_aliases(self, job_id: int, aliases: Mapping[str, str], reason: str) -> int:
        items = sorted(aliases.items())
        if not items:
            return 0

        def op(ctx: TxContext) -> int:
            conn = ctx.conn
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            new = 0
            for url, target in items:
                new += conn.execute(
                    "INSERT OR IGNORE INTO document_aliases (job_id, url, target, reason)"
                    " VALUES (?, ?, ?, ?)",
                    (job_id, url, target, reason),
                ).rowcount
            if new:
                conn.execute(q.ADD_JOB_STAT, (job_id, "aliases", new))
                conn.execute(q.ADD_JOB_STAT, (job_id, f"aliases_{reason}", new))
            return new

        return await self._write(op)

    async def lower_page_depths(
        self, job_id: int, depths: Mapping[str, int], running_here: Collection[int] = ()
    ) -> list[str]:
        if not depths:
            return []
        keys = page_keys(depths)
        mine = frozenset(running_here)

        def op(ctx: TxContext) -> list[str]:
            conn = ctx.conn
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            rows: list[tuple[int, str, str, Any]] = []
            for chunk in _chunks(keys):
                rows.extend(
                    conn.execute(
                        q.PAGE_DEPTHS.format(keys=",".join("?" * len(chunk))), (job_id, *chunk)
                    )
                )
            updates, again = plan_page_depths(depths, rows, mine)
            conn.executemany(q.SET_PAGE_DEPTH, [(d, i) for i, d in sorted(updates.items())])
            return again

        return await self._write(op)

    async def list_aliases(self, job_id: int, limit: int = 50, offset: int = 0) -> Page:
        def fn(c: sqlite3.Connection) -> Page:
            total = c.execute(
                "SELECT COUNT(*) FROM document_aliases WHERE job_id = ?", (job_id,)
            ).fetchone()[0]
            rows = c.execute(
                "SELECT url, target, reason FROM document_aliases WHERE job_id = ?"
                " ORDER BY url LIMIT ? OFFSET ?",
                (job_id, limit, offset),
            ).fetchall()
            return Page([{"url": r[0], "target": r[1], "reason": r[2]} for r in rows], int(total))

        return await self._read(fn)

    async def add_job_stats(self, job_id: int, deltas: dict[str, int]) -> None:
        items = [(job_id, k, int(v)) for k, v in deltas.items() if v]
        if not items:
            return

        def op(ctx: TxContext) -> None:
            if ctx.conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            ctx.conn.executemany(q.ADD_JOB_STAT, items)

        await self._write(op)

    @staticmethod
    def _drop_duplicates(ctx: TxContext, specs: list[NewJob]) -> list[NewJob]:
        keyed: dict[tuple[int | None, str], NewJob] = {}
        out: list[NewJob] = []
        for s in specs:
            if s.dedupe_key is None:
                out.append(s)
            elif (s.parent_id, s.dedupe_key) not in keyed:
                keyed[(s.parent_id, s.dedupe_key)] = s
        if not keyed:
            return out
        by_parent: dict[int | None, list[str]] = {}
        for parent_id, key in keyed:
            by_parent.setdefault(parent_id, []).append(key)
        taken: set[tuple[int | None, str]] = set()
        for parent_id, keys in by_parent.items():
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                if parent_id is None:
                    sql = f"SELECT dedupe_key FROM jobs WHERE parent_id IS NULL AND dedupe_key IN ({marks})"
                    params: list[Any] = list(chunk)
                else:
                    sql = f"SELECT dedupe_key FROM jobs WHERE parent_id = ? AND dedupe_key IN ({marks})"
                    params = [parent_id, *chunk]
                taken.update((parent_id, r[0]) for r in ctx.conn.execute(sql, params))
        keep = {k for k in keyed if k not in taken}
        return [
            s
            for s in specs
            if s.dedupe_key is None
            or ((s.parent_id, s.dedupe_key) in keep and keyed[(s.parent_id, s.dedupe_key)] is s)
        ]

    async def claim_jobs(
        self, owner: str, limit: int, lease_seconds: float, job_types: Collection[str]
    ) -> list[Job]:
        types = tuple(sorted(job_types))
        if limit <= 0 or not types:
            return []
        step = WorkerStep(self, "claim", [], owner, limit, lease_seconds, types)
        jobs: list[Job] = await self._write(step)
        return jobs

    async def apply_changes(self, changes: Sequence[StatusChange]) -> list[ChangeResult]:
        step = WorkerStep(self, "apply", list(changes))
        results: list[ChangeResult] = await self._write(step)
        return results

    async def apply_and_claim(
        self,
        changes: Sequence[StatusChange],
        owner: str,
        limit: int,
        lease_seconds: float,
        job_types: Collection[str],
    ) -> tuple[list[ChangeResult], list[Job]]:
        types = tuple(sorted(job_types))
        if limit <= 0 or not types:
            return await self.apply_changes(changes), []
        step = WorkerStep(self, "both", list(changes), owner, limit, lease_seconds, types)
        both: tuple[list[ChangeResult], list[Job]] = await self._write(step)
        return both

    async def heartbeat(
        self, owner: str, job_ids: Collection[int], lease_seconds: float
    ) -> set[int]:
        ids = list(job_ids)
        if not ids:
            return set()

        def op(ctx: TxContext) -> set[int]:
            held: set[int] = set()
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                ctx.conn.execute(
                    q.HEARTBEAT.format(ids=marks), (ctx.now + lease_seconds, ctx.now, owner, *chunk)
                )
                held.update(
                    r[0] for r in ctx.conn.execute(q.HELD.format(ids=marks), (owner, *chunk))
                )
            return held

        return await self._write(op)

    async def requeue_expired(self, limit: int = 1000) -> list[int]:
        def op(ctx: TxContext) -> list[int]:
            ids = [r[0] for r in ctx.conn.execute(q.EXPIRED, (ctx.now, limit))]
            if not ids:
                return []
            jobs = JobRows()
            self._load(ctx, ids, jobs)
            self._load_active_below(ctx, ids, jobs)
            self._load_ancestors(ctx, jobs)
            plan = Planner(jobs, now=ctx.now)
            for job_id in ids:
                if jobs[job_id].status is JobStatus.RUNNING:  # not cancelled in this plan
                    plan.expire(jobs[job_id])
            plan.finish()
            self._write_plan(ctx, plan)
            return ids

        return await self._write(op)

    async def cancel_subtree(self, job_id: int, include_self: bool = True) -> int:
        def op(ctx: TxContext) -> int:
            jobs = JobRows()
            self._load(ctx, [job_id], jobs)
            if job_id not in jobs:
                raise JobNotFound(job_id)
            return self._cancel(ctx, jobs, [job_id] if include_self else None, job_id)

        return await self._write(op)

    async def cancel_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        ids = list(job_ids)

        def op(ctx: TxContext) -> list[ChangeResult]:
            jobs = JobRows()
            self._load(ctx, ids, jobs)
            results: list[ChangeResult] = []
            self._cancel(ctx, jobs, ids, None, results)
            return results

        return await self._write(op)

    def _cancel(
        self,
        ctx: TxContext,
        jobs: JobRows,
        ids: list[int] | None,
        children_of: int | None,
        results: list[ChangeResult] | None = None,
    ) -> int:
        """Cancel ``ids`` (or the active children of ``children_of``); the failure rule
        takes their active subtrees. Returns how many jobs changed."""
        if ids is None:
            below = [r[0] for r in ctx.conn.execute(q.ACTIVE_BELOW, (children_of,))]
            self._load(ctx, below, jobs)
            ids = [i for i in below if jobs[i].parent_id == children_of]
        self._load_active_below(ctx, ids, jobs)
        self._load_ancestors(ctx, jobs)
        plan = Planner(jobs, now=ctx.now)
        for i in ids:
            res = plan.cancel(i)
            if results is not None:
                results.append(res)
        plan.finish()
        self._write_plan(ctx, plan)
        return sum(1 for e in plan.events if e.type == JOB_STATUS_CHANGE)

    async def retry_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        ids = list(job_ids)

        def op(ctx: TxContext) -> list[ChangeResult]:
            jobs = JobRows()
            self._load(ctx, ids, jobs)
            self._load_ancestors(ctx, jobs)
            plan = Planner(jobs, now=ctx.now)
            results = [plan.retry(i) for i in ids]
            plan.finish()
            self._write_plan(ctx, plan)
            return results

        return await self._write(op)

    async def delete_subtree(self, job_id: int) -> int:
        def op(ctx: TxContext) -> int:
            jobs = JobRows()
            self._load(ctx, [job_id], jobs)
            if job_id not in jobs:
                raise JobNotFound(job_id)
            plan = Planner(jobs, now=ctx.now)
            n = self._delete_one(ctx, plan, job_id)
            plan.finish()
            self._write_plan(ctx, plan)
            return n

        return await self._write(op)

    async def delete_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        ids = list(job_ids)

        def op(ctx: TxContext) -> list[ChangeResult]:
            jobs = JobRows()
            self._load(ctx, ids, jobs)
            plan = Planner(jobs, now=ctx.now)
            results = []
            for i in ids:
                if i not in jobs:  # deleted with an ancestor earlier in this list
                    results.append(ChangeResult(i, error=JobNotFound(i)))
                    continue
                try:
                    self._delete_one(ctx, plan, i)
                except JobStateError as exc:
                    results.append(ChangeResult(i, error=exc))
                else:
                    results.append(ChangeResult(i))
            plan.finish()
            self._write_plan(ctx, plan)
            return results

        return await self._write(op)

    def _delete_one(self, ctx: TxContext, plan: Planner, job_id: int) -> int:
        conn = ctx.conn
        jobs = plan.jobs
        job = jobs[job_id]
        ids = [r[0] for r in conn.execute(q.SUBTREE, (job_id,))]
        active = 0
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            active += conn.execute(q.COUNT_ACTIVE_IN.format(ids=marks), chunk).fetchone()[0]
        if active:
            raise JobStateError(
                f"job {job_id} has {active} pending or running job(s) in its tree; cancel it first"
            )
        groups = {
            r[0]: r[1]
            for r in conn.execute(
                "SELECT key, count FROM job_error_groups WHERE job_id = ?", (job_id,)
            )
        }
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM job_logs WHERE job_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM document_jobs WHERE job_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM job_stats WHERE job_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM job_skips WHERE job_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM job_error_groups WHERE job_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM job_broken_links WHERE job_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM document_aliases WHERE job_id IN ({marks})", chunk)
        gone = set(ids)
        self._load_ancestors(ctx, jobs)
        plan.delete(job, groups)
        for i in gone:  # their rows are gone
            plan.dirty.discard(i)
            jobs.pop(i, None)
        plan.touched_parents = {k: v for k, v in plan.touched_parents.items() if k not in gone}
        plan.touched_ancestors = {k: v for k, v in plan.touched_ancestors.items() if k not in gone}
        return len(ids)

    async def add_logs(self, entries: Sequence[LogEntry], publish: bool = True) -> None:
        entries = list(entries)
        if not entries:
            return
        check_log_levels(entries)

        def op(ctx: TxContext) -> None:
            ids = sorted({e.job_id for e in entries})
            roots: dict[int, int] = {}
            for chunk in _chunks(ids):
                sql = f"SELECT id, root_id FROM jobs WHERE id IN ({','.join('?' * len(chunk))})"
                roots.update((r[0], r[1]) for r in ctx.conn.execute(sql, chunk))
            kept = [e for e in entries if e.job_id in roots]
            ctx.conn.executemany(
                q.INSERT_LOG,
                [(e.job_id, roots[e.job_id], e.timestamp, e.level, e.message) for e in kept],
            )
            if publish:
                from ..jobs.models import iso

                ctx.write_events(
                    [
                        NewEvent(
                            LOG,
                            e.job_id,
                            roots[e.job_id],
                            {
                                "job_id": e.job_id,
                                "timestamp": iso(e.timestamp),
                                "level": e.level,
                                "message": e.message,
                            },
                        )
                        for e in kept
                    ],
                    _dumps,
                )

        await self._write(op)

    async def set_progress(self, job_id: int, progress: dict[str, Any]) -> None:
        def op(ctx: TxContext) -> None:
            row = ctx.conn.execute("SELECT root_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            ctx.conn.execute(
                "UPDATE jobs SET progress = ? WHERE id = ?", (_dumps(progress), job_id)
            )
            ctx.write_events(
                [NewEvent(JOB_PROGRESS, job_id, row[0], {"job_id": job_id, **progress})], _dumps
            )

        await self._write(op)

    async def add_result_count(self, job_id: int, n: int) -> None:
        def op(ctx: TxContext) -> None:
            cur = ctx.conn.execute(
                "UPDATE jobs SET result_count = result_count + ? WHERE id = ?", (n, job_id)
            )
            if cur.rowcount == 0:
                raise JobNotFound(job_id)

        await self._write(op)
