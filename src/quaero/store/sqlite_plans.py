"""Loading a plan's jobs and writing the plan (the SQLite side of ``quaero.jobs.planner``).

Every job a plan changes was loaded by the same operation, so the row it was loaded from
is known (:class:`JobRows`): a job's UPDATE sets only the columns whose value changed (a
claim sets 7 of 26, and SQLite then leaves alone the indexes on the others), and the
status lines the job row stands for (``run_log_id``/``end_log_id``) go into that same
UPDATE instead of one more per line. A job without a loaded row gets every column.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from ..events.types import Event
from ..jobs.error_groups import SAMPLES
from ..jobs.models import Job, JobStatus
from ..jobs.planner import Planner
from . import sqlite_sql as q
from .sqlite_base import _chunks, _dumps, _loads, _row_to_job
from .sqlite_writer import TxContext

__all__ = ["JobRows", "load", "load_ancestors", "write_plan"]

#: the state columns a plan may change, in UPDATE_JOB_STATE's order (result and
#: progress_samples are handled apart), and where each is in a loaded row
_STATE = (
    ("status", 8),
    ("attempts", 9),
    ("lease_owner", 11),
    ("lease_expires_at", 12),
    ("heartbeat_at", 13),
    ("available_at", 14),
    ("started_at", 16),
    ("completed_at", 17),
    ("error", 18),
    ("waiting", 22),
    ("progress_logged_at", 24),
    ("child_total", 25),
    ("child_pending", 26),
    ("child_running", 27),
    ("child_completed", 28),
    ("child_failed", 29),
    ("child_cancelled", 30),
    ("error_group", 31),
    ("desc_total", 32),
    ("desc_pending", 33),
    ("desc_running", 34),
    ("desc_completed", 35),
    ("desc_failed", 36),
    ("desc_cancelled", 37),
)
_NAMES = tuple(name for name, _ in _STATE)
_AT_LOAD = operator.itemgetter(*(i for _, i in _STATE))
#: run_log_id and end_log_id in a row of ``q.SELECT_JOBS_FOR_WRITE``
_RUN_LOG, _END_LOG = 39, 40
_LINE_COLUMN = {"run": "run_log_id", "end": "end_log_id"}
_UPDATES: dict[tuple[str, ...], str] = {}


class JobRows(dict[int, Job]):
    """A plan's jobs by id, and the row each was loaded from in this operation."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, tuple[Any, ...]] = {}


def load(ctx: TxContext, ids: Iterable[int], into: dict[int, Job], full: bool = False) -> None:
    """Load the jobs ``ids`` not yet in ``into`` (``full`` also decodes config etc.); a
    :class:`JobRows` also keeps their rows."""
    want = [i for i in set(ids) if i not in into]
    for chunk in _chunks(want):
        sql = q.SELECT_JOBS_FOR_WRITE.format(ids=",".join("?" * len(chunk)))
        for r in ctx.conn.execute(sql, chunk):
            add(into, r, full)


def add(into: dict[int, Job], r: tuple[Any, ...], full: bool = True) -> Job:
    job = _row_to_job(r, full)
    into[job.id] = job
    if isinstance(into, JobRows):
        into.rows[job.id] = r
    return job


def load_ancestors(ctx: TxContext, jobs: dict[int, Job]) -> None:
    frontier = {p for j in jobs.values() if (p := j.parent_id) is not None} - jobs.keys()
    while frontier:
        load(ctx, frontier, jobs)
        frontier = {
            p for i in frontier if i in jobs and (p := jobs[i].parent_id) is not None
        } - jobs.keys()


def _state(j: Job) -> tuple[Any, ...]:
    c, d = j.children, j.descendants
    return (
        j.status._value_,
        j.attempts,
        j.lease_owner,
        j.lease_expires_at,
        j.heartbeat_at,
        j.available_at,
        j.started_at,
        j.completed_at,
        j.error,
        int(j.waiting),
        j.progress_logged_at,
        c.total,
        c.pending,
        c.running,
        c.completed,
        c.failed,
        c.cancelled,
        j.error_group,
        d.total,
        d.pending,
        d.running,
        d.completed,
        d.failed,
        d.cancelled,
    )


def _update_sql(columns: tuple[str, ...]) -> str:
    sql = _UPDATES.get(columns)
    if sql is None:
        sets = ", ".join(f"{c} = ?" for c in columns)
        sql = _UPDATES[columns] = f"UPDATE jobs SET {sets} WHERE id = ?"
    return sql


def write_plan(ctx: TxContext, plan: Planner) -> list[Event]:
    """Write what ``plan`` did (its jobs were loaded by this operation) and its events."""
    conn = ctx.conn
    if plan.inserts:
        conn.executemany(
            q.INSERT_JOB,
            [
                (
                    j.id,
                    j.parent_id,
                    j.root_id,
                    j.depth,
                    j.job_type,
                    j.name,
                    _dumps(j.config),
                    _dumps(j.metadata),
                    j.status.value,
                    j.max_attempts,
                    j.available_at,
                    j.created_at,
                    j.dedupe_key,
                )
                for j in plan.inserts
            ],
        )
    loaded: dict[int, tuple[Any, ...]] = getattr(plan.jobs, "rows", {})
    _keep_replaced_lines(ctx, plan, loaded)
    # log ids first: the status lines a job row stands for go into its UPDATE
    lines: dict[int, dict[str, int]] = {}
    log_rows = []
    if plan.logs:
        first = ctx.reserve_log_ids(len(plan.logs))
        for i, log in enumerate(plan.logs):
            if log.synthetic is not None:
                lines.setdefault(log.job_id, {})[_LINE_COLUMN[log.synthetic]] = first + i
            else:
                log_rows.append(
                    (first + i, log.job_id, log.root_id, log.ts, log.level, log.message)
                )
    inserted = {j.id for j in plan.inserts}
    full = []
    narrow: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for job_id in plan.dirty:
        j = plan.jobs[job_id]
        if job_id in inserted and j.status is JobStatus.PENDING and j.children.total == 0:
            continue
        new = _state(j)
        row = loaded.get(job_id)
        if row is None:
            result = None if j.result is None else _dumps(j.result)
            full.append((*new[:9], result, *new[9:], _dumps(j.progress_samples), job_id))
            continue
        changed = [(n, a) for n, a, b in zip(_NAMES, new, _AT_LOAD(row), strict=True) if a != b]
        columns = [n for n, _ in changed]
        values = [a for _, a in changed]
        if j.result is not None:
            columns.append("result")
            values.append(_dumps(j.result))
        if job_id in plan.touched_parents:
            columns.append("progress_samples")
            values.append(_dumps(j.progress_samples))
        for column, log_id in lines.pop(job_id, {}).items():
            columns.append(column)
            values.append(log_id)
        if columns:
            narrow.setdefault(tuple(columns), []).append((*values, job_id))
    if full:
        conn.executemany(q.UPDATE_JOB_STATE, full)
    for names, rows in narrow.items():
        conn.executemany(_update_sql(names), rows)
    if plan.error_deltas:
        _write_error_deltas(ctx, plan)
    if log_rows:
        conn.executemany(q.INSERT_LOG_WITH_ID, log_rows)
    for job_id, ids in lines.items():  # lines of jobs not updated above
        for column, log_id in ids.items():
            conn.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (log_id, job_id))
    return ctx.write_events(plan.events, _dumps)


def _write_error_deltas(ctx: TxContext, plan: Planner) -> None:
    """Add the plan's error group deltas (rows reaching zero are removed)."""
    keys = sorted(plan.error_deltas)
    have: dict[tuple[int, str], tuple[int, list[int], float]] = {}
    for chunk in _chunks(sorted({k[0] for k in keys})):
        sql = q.ERROR_GROUPS_OF.format(ids=",".join("?" * len(chunk)))
        for r in ctx.conn.execute(sql, chunk):
            have[(r[0], r[1])] = (r[2], _loads(r[3]), r[4])
    put, drop = [], []
    for key in keys:
        d = plan.error_deltas[key]
        count, samples, last = have.get(key, (0, [], 0.0))
        count += d.count
        if count <= 0:
            drop.append(key)
            continue
        gone = set(d.remove)
        samples = [i for i in [*reversed(d.add), *samples] if i not in gone][:SAMPLES]
        put.append((key[0], key[1], count, _dumps(samples), max(last, d.last_seen or 0.0)))
    if drop:
        ctx.conn.executemany("DELETE FROM job_error_groups WHERE job_id = ? AND key = ?", drop)
    if put:
        ctx.conn.executemany(
            "INSERT OR REPLACE INTO job_error_groups (job_id, key, count, samples, last_seen)"
            " VALUES (?, ?, ?, ?, ?)",
            put,
        )


def _keep_replaced_lines(ctx: TxContext, plan: Planner, loaded: dict[int, tuple[Any, ...]]) -> None:
    """A job row stands for one first-run and one final status line. When a job is
    reopened (no longer terminal, or not started) or gets another such line, the line
    its row stood for becomes a log row first, from the row as it still is (this runs
    before the plan's writes), and the row stops standing for it. Jobs whose loaded row
    stands for no such line are not looked at."""
    inserted = {j.id for j in plan.inserts}
    existing = [plan.jobs[i] for i in plan.dirty if i not in inserted]
    ends = {g.job_id for g in plan.logs if g.synthetic == "end"}
    ends.update(j.id for j in existing if not j.status.terminal)
    runs = {g.job_id for g in plan.logs if g.synthetic == "run"}
    runs.update(j.id for j in existing if j.started_at is None)
    for template, column, ids, at in (
        (q.RUN_LINES, "run_log_id", runs, _RUN_LOG),
        (q.END_LINES, "end_log_id", ends, _END_LOG),
    ):
        maybe = sorted(i for i in ids if (r := loaded.get(i)) is None or r[at] is not None)
        for chunk in _chunks(maybe):
            where = f"id IN ({','.join('?' * len(chunk))}) AND {column} IS NOT NULL"
            if ctx.conn.execute(q.INSERT_LOG_ROWS + template.format(where=where), chunk).rowcount:
                ctx.conn.execute(f"UPDATE jobs SET {column} = NULL WHERE {where}", chunk)
