"""The read side of the PostgreSQL store: listings, logs, stats, recount, the event log.

Reads run on pooled connections outside any transaction (each statement sees the
committed state when it starts). The event log is read by sequence only: ``seq`` is
gap-free and allocated in commit order (see ``postgres_sql.WRITE``), so a reader that has
seen ``seq = n`` has seen every event before it, and the next visible event is ``n + 1``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import InvalidJobSpec, JobNotFound
from ..events.types import Event
from ..jobs.models import Job, JobStatus
from . import postgres_sql as q
from .base import (
    JOB_ORDER_KEYS,
    LOG_LEVELS,
    ChildFilter,
    Drift,
    ErrorGroup,
    JobQuery,
    LogEntry,
    LogQuery,
    Page,
    apply_prune_marks,
    metadata_filter,
)
from .postgres_base import PgBase
from .postgres_retention import fetch_prune_marks
from .postgres_tx import dumps, loads, row_to_job

__all__ = ["PgReads"]


class _Params:
    """Collects query parameters and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


class PgReads(PgBase):
    """Mixed into :class:`~quaero.store.postgres.PostgresStore`."""

    async def get_job(self, job_id: int) -> Job | None:
        async with self.pool.acquire() as conn:
            r = await conn.fetchrow(q.SELECT_JOB, job_id)
            if r is None:
                return None
            return (await _with_stats(conn, [row_to_job(r)]))[0]

    async def list_jobs(self, query: JobQuery) -> Page:
        if query.order_by not in JOB_ORDER_KEYS:
            raise InvalidJobSpec(
                f"cannot order by {query.order_by!r}; use one of {', '.join(sorted(JOB_ORDER_KEYS))}"
            )
        p = _Params()
        where: list[str] = []
        if query.parent_id == "root":
            where.append("parent_id IS NULL")
        elif query.parent_id is not None:
            where.append(f"parent_id = {p(int(query.parent_id))}")
        if query.statuses:
            where.append(f"status = ANY({p([JobStatus(s).value for s in query.statuses])})")
        if query.job_type:
            where.append(f"job_type = {p(query.job_type)}")
        if query.error_group is not None:
            where.append(f"error_group = {p(query.error_group)}")
        if query.text:
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"name ILIKE {p(f'%{escaped}%')} ESCAPE '\\'")
        for key, value in metadata_filter(query):
            where.append(f"metadata @> {p(dumps({key: value}))}::jsonb")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        column = JOB_ORDER_KEYS[query.order_by]
        direction = "DESC" if query.descending else "ASC"
        nulls = "NULLS LAST" if query.descending else "NULLS FIRST"  # as SQLite orders NULLs
        order = (
            f"ORDER BY {column} {direction} {nulls}, id {direction}"
            if column != "id"
            else f"ORDER BY id {direction}"
        )
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT COUNT(*) FROM jobs {clause}", *p.values)
            limit, offset = p(query.limit), p(query.offset)
            rows = await conn.fetch(
                f"SELECT {q.JOB_COLUMNS} FROM jobs {clause} {order} LIMIT {limit} OFFSET {offset}",
                *p.values,
            )
            jobs = await _with_stats(conn, [row_to_job(r) for r in rows])
        return Page(jobs, int(total))

    async def job_stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        async with self.pool.acquire() as conn:
            for key, sql in (("top_level", q.STATS_TOP), ("all", q.STATS_ALL)):
                counts = {s.value: 0 for s in JobStatus}
                for status, n in await conn.fetch(sql):
                    counts[status] = n
                counts["total"] = sum(counts.values())
                out[key] = counts
        return out

    async def read_logs(self, query: LogQuery) -> list[LogEntry]:
        levels: tuple[str, ...] = LOG_LEVELS
        if query.min_level is not None:
            if query.min_level not in LOG_LEVELS:
                raise InvalidJobSpec(
                    f"unknown log level {query.min_level!r}; use one of {', '.join(LOG_LEVELS)}"
                )
            levels = LOG_LEVELS[LOG_LEVELS.index(query.min_level) :]
        # one snapshot: the log rows and the lines job rows stand for are two reads, and a
        # commit between them (a retry turns a row's lines into log rows) would lose lines
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            job = await conn.fetchrow("SELECT id, root_id FROM jobs WHERE id = $1", query.job_id)
            if job is None:
                raise JobNotFound(query.job_id)
            p = _Params()
            prefix = ""
            if query.aggregated and job[1] == job[0]:
                where = [f"root_id = {p(job[0])}"]
            elif query.aggregated:
                prefix = (
                    f"WITH RECURSIVE sub(id) AS (SELECT {p(query.job_id)}::bigint UNION ALL "
                    "SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id) "
                )
                where = ["job_id IN (SELECT id FROM sub)"]
            else:
                where = [f"job_id = {p(query.job_id)}"]
            where.append(f"level = ANY({p(list(levels))})")
            if query.cursor is not None:
                where.append(f"id {'<' if query.descending else '>'} {p(query.cursor)}")
            direction = "DESC" if query.descending else "ASC"
            sql = (
                f"{prefix}SELECT id, job_id, root_id, ts, level, message FROM job_logs "
                f"WHERE {' AND '.join(where)} ORDER BY id {direction} LIMIT {p(query.limit)}"
            )
            rows = list(await conn.fetch(sql, *p.values))
            rows += await _status_lines(conn, query, job[0] == job[1], levels)
        rows.sort(key=lambda r: int(r[0]), reverse=query.descending)
        return [
            LogEntry(r[1], r[4], r[5], r[3], id=r[0], root_id=r[2]) for r in rows[: query.limit]
        ]

    async def recount(self) -> list[Drift]:
        marks = await fetch_prune_marks(self.pool)
        drift = []
        for r in await self.pool.fetch(q.RECOUNT):
            stored = dict(zip(q.COUNTER_NAMES, r[1:7], strict=True))
            actual = dict(zip(q.COUNTER_NAMES, r[7:13], strict=True))
            drift.append(Drift(r[0], stored, actual))
        for r in await self.pool.fetch(q.RECOUNT_DESCENDANTS):
            stored = dict(zip(q.COUNTER_NAMES, r[1:7], strict=True))
            actual = dict(zip(q.COUNTER_NAMES, r[7:13], strict=True))
            drift.append(Drift(r[0], stored, actual, kind="descendants"))
        roots: dict[int, int] = {}
        counters: dict[int, dict[str, int]] = {}
        if drift and marks:
            rows = await self.pool.fetch(
                "SELECT id, root_id FROM jobs WHERE id = ANY($1::bigint[])",
                [d.job_id for d in drift],
            )
            roots = {r[0]: r[1] for r in rows}
        if marks:
            rows = await self.pool.fetch(
                "SELECT id, child_total, child_pending, child_running, child_completed,"
                " child_failed, child_cancelled FROM jobs WHERE id = ANY($1::bigint[])",
                list(marks),
            )
            counters = {
                r[0]: dict(zip(q.COUNTER_NAMES, map(int, r[1:7]), strict=True)) for r in rows
            }
        return apply_prune_marks(drift, marks, roots, counters)

    async def match_ids(self, job_id: int, f: ChildFilter) -> list[int]:
        async with self.pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id) is None:
                raise JobNotFound(job_id)
            rows = await conn.fetch(
                q.SUBTREE_IDS if f.subtree else q.CHILD_IDS,
                job_id,
                [JobStatus(s).value for s in f.statuses],
                f.job_type or None,
                f.error_group,
            )
        return [r[0] for r in rows]

    async def error_groups(self, job_id: int, limit: int = 100) -> list[ErrorGroup]:
        async with self.pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id) is None:
                raise JobNotFound(job_id)
            rows = await conn.fetch(q.ERROR_GROUPS, job_id, limit)
        return [ErrorGroup(r[0], int(r[1]), list(r[2]), r[3]) for r in rows]

    async def has_active_workers(self, since: float) -> bool:
        return bool(await self.pool.fetchval(q.HAS_ACTIVE_WORKERS, since))

    # ------------------------------------------------------------------ events
    async def read_events(
        self,
        after_seq: int,
        limit: int = 1000,
        types: Collection[str] = (),
        job_ids: Collection[int] = (),
        until_seq: int | None = None,
    ) -> list[Event]:
        p = _Params()
        where = [f"seq > {p(after_seq)}"]
        if until_seq is not None:
            where.append(f"seq <= {p(until_seq)}")
        if types:
            where.append(f"type = ANY({p(list(types))})")
        if job_ids:
            ids = p(list(job_ids))
            where.append(f"(job_id = ANY({ids}) OR root_id = ANY({ids}))")
        sql = (
            "SELECT seq, type, job_id, root_id, payload::text, created_at FROM events "
            f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT {p(limit)}"
        )
        rows = await self.pool.fetch(sql, *p.values)
        return [Event(r[0], r[1], r[2], r[3], loads(r[4]), r[5]) for r in rows]

    async def event_bounds(self) -> tuple[int, int]:
        first, last = await self.pool.fetchrow(q.EVENT_BOUNDS)
        last = int(last or 0)
        return (int(first) if first is not None else last + 1, last)


async def _with_stats(conn: Any, jobs: list[Job]) -> list[Job]:
    """Attach each job's named counters (one query for the whole page)."""
    if not jobs:
        return jobs
    by_id = {j.id: j for j in jobs}
    for job_id, name, value in await conn.fetch(q.JOB_STATS_FOR, list(by_id)):
        by_id[job_id].stats[name] = value
    for job_id, pruned_at in await conn.fetch(q.CHILDREN_PRUNED_FOR, list(by_id)):
        by_id[job_id].children_pruned_at = pruned_at
    return jobs


async def _status_lines(
    conn: Any, query: LogQuery, is_root: bool, levels: tuple[str, ...]
) -> list[Any]:
    """The status lines job rows stand for (migration 0016) that belong on this page: at
    most ``limit`` of each kind, from the indexes on (root_id, log id) for a tree."""
    kinds = []
    if "info" in levels:
        kinds.append((q.RUN_LINES, "run_log_id", ""))
        kinds.append((q.END_LINES, "end_log_id", ""))
    elif "error" in levels:
        kinds.append((q.END_LINES, "end_log_id", " AND status = 'failed'"))
    out: list[Any] = []
    for template, column, extra in kinds:
        p = _Params()
        prefix = ""
        if query.aggregated and is_root:
            scope = f"root_id = {p(query.job_id)}"
        elif query.aggregated:
            prefix = (
                f"WITH RECURSIVE sub(id) AS (SELECT {p(query.job_id)}::bigint UNION ALL "
                "SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id) "
            )
            scope = "id IN (SELECT id FROM sub)"
        else:
            scope = f"id = {p(query.job_id)}"
        if query.cursor is not None:
            cond = f"{column} {'<' if query.descending else '>'} {p(query.cursor)}"
        else:
            cond = f"{column} IS NOT NULL"
        direction = "DESC" if query.descending else "ASC"
        where = f"{scope} AND {cond}{extra} ORDER BY {column} {direction} LIMIT {p(query.limit)}"
        out.extend(await conn.fetch(prefix + template.format(where=where), *p.values))
    return out
