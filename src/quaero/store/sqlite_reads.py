"""Read operations of the SQLite backend (run on the reader pool)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

from ..errors import InvalidJobSpec, JobNotFound
from ..events.types import Event
from ..jobs.models import Job, JobStatus
from . import sqlite_sql as q
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
from .event_codec import decode_payload
from .sqlite_base import SqliteBase, _loads, _row_to_job

__all__ = ["SqliteReads"]


class SqliteReads(SqliteBase):
    """Job, log and event reads."""

    async def get_job(self, job_id: int) -> Job | None:
        def fn(c: sqlite3.Connection) -> Job | None:
            r = c.execute(q.SELECT_JOBS_BY_IDS.format(ids="?"), (job_id,)).fetchone()
            return _with_stats(c, [_row_to_job(r)])[0] if r else None

        return await self._read(fn)

    async def list_jobs(self, query: JobQuery) -> Page:
        if query.order_by not in JOB_ORDER_KEYS:
            raise InvalidJobSpec(
                f"cannot order by {query.order_by!r}; use one of {', '.join(sorted(JOB_ORDER_KEYS))}"
            )
        where: list[str] = []
        params: list[Any] = []
        if query.parent_id == "root":
            where.append("parent_id IS NULL")
        elif query.parent_id is not None:
            where.append("parent_id = ?")
            params.append(int(query.parent_id))
        if query.statuses:
            where.append(f"status IN ({','.join('?' * len(query.statuses))})")
            params.extend(JobStatus(s).value for s in query.statuses)
        if query.job_type:
            where.append("job_type = ?")
            params.append(query.job_type)
        if query.error_group is not None:
            where.append("error_group = ?")
            params.append(query.error_group)
        if query.text:
            where.append("name LIKE ? ESCAPE '\\'")
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        for key, value in metadata_filter(query):
            where.append("json_extract(metadata, ?) = ?")
            params.extend((f"$.{key}", value))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        column = JOB_ORDER_KEYS[query.order_by]
        direction = "DESC" if query.descending else "ASC"
        order = (
            f"ORDER BY {column} {direction}, id {direction}"
            if column != "id"
            else f"ORDER BY id {direction}"
        )

        def fn(c: sqlite3.Connection) -> Page:
            total = c.execute(f"SELECT COUNT(*) FROM jobs {clause}", params).fetchone()[0]
            rows = c.execute(
                f"SELECT {q.JOB_COLUMNS} FROM jobs {clause} {order} LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset),
            ).fetchall()
            return Page(_with_stats(c, [_row_to_job(r) for r in rows]), int(total))

        return await self._read(fn)

    async def job_stats(self) -> dict[str, dict[str, int]]:
        def fn(c: sqlite3.Connection) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for key, sql in (("top_level", q.STATS_TOP), ("all", q.STATS_ALL)):
                counts = {s.value: 0 for s in JobStatus}
                for status, n in c.execute(sql):
                    counts[status] = n
                counts["total"] = sum(counts.values())
                out[key] = counts
            return out

        return await self._read(fn)

    async def read_logs(self, query: LogQuery) -> list[LogEntry]:
        levels: tuple[str, ...] = LOG_LEVELS
        if query.min_level is not None:
            if query.min_level not in LOG_LEVELS:
                raise InvalidJobSpec(
                    f"unknown log level {query.min_level!r}; use one of {', '.join(LOG_LEVELS)}"
                )
            levels = LOG_LEVELS[LOG_LEVELS.index(query.min_level) :]

        def fn(c: sqlite3.Connection) -> list[LogEntry]:
            # one snapshot: the log rows and the lines job rows stand for are two reads, and
            # a commit between them (a retry turns a row's lines into log rows) would lose
            # lines
            c.execute("BEGIN")
            try:
                return read(c)
            finally:
                c.execute("COMMIT")

        def read(c: sqlite3.Connection) -> list[LogEntry]:
            job = c.execute("SELECT id, root_id FROM jobs WHERE id = ?", (query.job_id,)).fetchone()
            if job is None:
                raise JobNotFound(query.job_id)
            where = [f"level IN ({','.join('?' * len(levels))})"]
            params: list[Any] = list(levels)
            if query.aggregated and job[1] == job[0]:
                where.insert(0, "root_id = ?")
                params.insert(0, job[0])
            elif query.aggregated:
                where.insert(0, "job_id IN (SELECT id FROM sub)")
            else:
                where.insert(0, "job_id = ?")
                params.insert(0, query.job_id)
            if query.cursor is not None:
                where.append("id < ?" if query.descending else "id > ?")
                params.append(query.cursor)
            direction = "DESC" if query.descending else "ASC"
            prefix = ""
            if query.aggregated and job[1] != job[0]:
                prefix = (
                    "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL "
                    "SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id) "
                )
                params.insert(0, query.job_id)
            sql = (
                f"{prefix}SELECT id, job_id, root_id, ts, level, message FROM job_logs "
                f"WHERE {' AND '.join(where)} ORDER BY id {direction} LIMIT ?"
            )
            rows = c.execute(sql, (*params, query.limit)).fetchall()
            rows += _status_lines(c, query, job[0] == job[1], levels)
            rows.sort(key=lambda r: int(r[0]), reverse=query.descending)
            return [
                LogEntry(r[1], r[4], r[5], r[3], id=r[0], root_id=r[2]) for r in rows[: query.limit]
            ]

        return await self._read(fn)

    async def recount(self) -> list[Drift]:
        marks = await self.prune_marks()

        def fn(c: sqlite3.Connection) -> list[Drift]:
            drift = []
            for r in c.execute(q.RECOUNT):
                stored = dict(zip(q.COUNTER_NAMES, r[1:7], strict=True))
                actual = dict(zip(q.COUNTER_NAMES, r[7:13], strict=True))
                drift.append(Drift(r[0], stored, actual))
            for r in c.execute(q.RECOUNT_DESCENDANTS):
                stored = dict(zip(q.COUNTER_NAMES, r[1:7], strict=True))
                actual = dict(zip(q.COUNTER_NAMES, r[7:13], strict=True))
                drift.append(Drift(r[0], stored, actual, kind="descendants"))
            roots: dict[int, int] = {}
            counters: dict[int, dict[str, int]] = {}
            if drift and marks:
                for d in drift:
                    row = c.execute("SELECT root_id FROM jobs WHERE id = ?", (d.job_id,))
                    roots[d.job_id] = row.fetchone()[0]
            for job_id in marks:
                row = c.execute(
                    "SELECT child_total, child_pending, child_running, child_completed,"
                    " child_failed, child_cancelled FROM jobs WHERE id = ?",
                    (job_id,),
                ).fetchone()
                if row is not None:
                    counters[job_id] = dict(zip(q.COUNTER_NAMES, row, strict=True))
            return apply_prune_marks(drift, marks, roots, counters)

        return await self._read(fn)

    async def match_ids(self, job_id: int, f: ChildFilter) -> list[int]:
        where: list[str] = []
        params: list[Any] = []
        if f.statuses:
            where.append(f"status IN ({','.join('?' * len(f.statuses))})")
            params.extend(JobStatus(s).value for s in f.statuses)
        if f.job_type:
            where.append("job_type = ?")
            params.append(f.job_type)
        if f.error_group is not None:
            where.append("error_group = ?")
            params.append(f.error_group)

        def fn(c: sqlite3.Connection) -> list[int]:
            if c.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            if f.subtree:
                sql = q.SUBTREE_ORDERED.format(where="".join(f" AND {w}" for w in where))
                return [r[0] for r in c.execute(sql, (job_id, *params))]
            clause = "".join(f" AND {w}" for w in where)
            sql = f"SELECT id FROM jobs WHERE parent_id = ?{clause} ORDER BY id"
            return [r[0] for r in c.execute(sql, (job_id, *params))]

        return await self._read(fn)

    async def error_groups(self, job_id: int, limit: int = 100) -> list[ErrorGroup]:
        def fn(c: sqlite3.Connection) -> list[ErrorGroup]:
            if c.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFound(job_id)
            rows = c.execute(
                "SELECT key, count, samples, last_seen FROM job_error_groups"
                " WHERE job_id = ? ORDER BY count DESC, key LIMIT ?",
                (job_id, limit),
            ).fetchall()
            groups = [ErrorGroup(r[0], r[1], _loads(r[2]), r[3]) for r in rows]
            ids = sorted({i for g in groups for i in g.sample_job_ids})
            if ids:
                marks = ",".join("?" * len(ids))
                live = {
                    r[0]
                    for r in c.execute(
                        f"SELECT id FROM jobs WHERE id IN ({marks}) AND status = 'failed'", ids
                    )
                }
                for g in groups:
                    g.sample_job_ids = [i for i in g.sample_job_ids if i in live]
            return groups

        return await self._read(fn)

    async def has_active_workers(self, since: float) -> bool:
        return await self._read(
            lambda c: (
                c.execute(
                    "SELECT 1 FROM jobs WHERE lease_owner IS NOT NULL AND heartbeat_at > ? LIMIT 1",
                    (since,),
                ).fetchone()
                is not None
            )
        )

    # ------------------------------------------------------------------ events
    async def read_events(
        self,
        after_seq: int,
        limit: int = 1000,
        types: Collection[str] = (),
        job_ids: Collection[int] = (),
        until_seq: int | None = None,
    ) -> list[Event]:
        where = ["seq > ?"]
        params: list[Any] = [after_seq]
        if until_seq is not None:
            where.append("seq <= ?")
            params.append(until_seq)
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        if job_ids:
            marks = ",".join("?" * len(job_ids))
            where.append(f"(job_id IN ({marks}) OR root_id IN ({marks}))")
            params.extend(job_ids)
            params.extend(job_ids)
        sql = (
            "SELECT seq, type, job_id, root_id, payload, created_at FROM events "
            f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        )

        def fn(c: sqlite3.Connection) -> list[Event]:
            return [
                Event(r[0], r[1], r[2], r[3], decode_payload(r[1], r[2], r[5], r[4], _loads), r[5])
                for r in c.execute(sql, (*params, limit))
            ]

        return await self._read(fn)

    async def event_bounds(self) -> tuple[int, int]:
        def fn(c: sqlite3.Connection) -> tuple[int, int]:
            r = c.execute("SELECT MIN(seq), MAX(seq) FROM events").fetchone()
            last = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            last_seq = int(last[0]) if last else 0
            first = int(r[0]) if r[0] is not None else last_seq + 1
            return (first, last_seq)

        return await self._read(fn)


def _status_lines(
    c: sqlite3.Connection, query: LogQuery, is_root: bool, levels: tuple[str, ...]
) -> list[Any]:
    """The status lines job rows stand for (see ``SqliteStore._write_logs``) that belong
    on this page: at most ``limit`` of each kind, from the index on (root_id, log id)."""
    prefix = ""
    scope_params: list[Any] = []
    if query.aggregated and is_root:
        scope = "root_id = ?"
        scope_params.append(query.job_id)
    elif query.aggregated:
        prefix = (
            "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL "
            "SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id) "
        )
        scope = "id IN (SELECT id FROM sub)"
        scope_params.append(query.job_id)
    else:
        scope = "id = ?"
        scope_params.append(query.job_id)
    direction = "DESC" if query.descending else "ASC"
    out: list[Any] = []
    kinds = []
    if "info" in levels:
        kinds.append((q.RUN_LINES, "run_log_id", ""))
        kinds.append((q.END_LINES, "end_log_id", ""))
    elif "error" in levels:
        kinds.append((q.END_LINES, "end_log_id", " AND status = 'failed'"))
    for template, column, extra in kinds:
        params = list(scope_params)
        if query.cursor is not None:
            cond = f"{column} {'<' if query.descending else '>'} ?"
            params.append(query.cursor)
        else:
            cond = f"{column} IS NOT NULL"
        where = f"{scope} AND {cond}{extra} ORDER BY {column} {direction} LIMIT ?"
        sql = prefix + template.format(where=where)
        out.extend(c.execute(sql, (*params, query.limit)).fetchall())
    return out


def _with_stats(c: sqlite3.Connection, jobs: list[Job]) -> list[Job]:
    """Attach each job's named counters (one query for the whole page)."""
    if not jobs:
        return jobs
    by_id = {j.id: j for j in jobs}
    marks = ",".join("?" * len(by_id))
    for job_id, name, value in c.execute(q.JOB_STATS_FOR.format(ids=marks), list(by_id)):
        by_id[job_id].stats[name] = value
    for job_id, pruned_at in c.execute(q.CHILDREN_PRUNED_FOR.format(ids=marks), list(by_id)):
        by_id[job_id].children_pruned_at = pruned_at
    return jobs
