"""One PostgreSQL transaction of the job engine: lock rows, plan, write, commit hook.

A write locks the rows that change (in id order), reads their parents without a lock,
runs the shared pure :class:`~quaero.jobs.planner.Planner` and writes the plan with ONE
statement (:data:`~quaero.store.postgres_sql.WRITE`):

- rows it locked are written as they are planned;
- parents it only read get *deltas* (the planner's counters minus what it read), and the
  planner's progress events and log lines for them, made from a stale view, are dropped:
  the commit hook (migration 0004) folds the deltas under the parent's row lock at COMMIT
  and makes those events from the exact counters;
- events are queued in a transaction-local setting; the hook numbers them at COMMIT.

The planner may need rows nobody loaded: a parent whose last child finished changes its
own status, which counts in the grandparent. :meth:`PgTx.plan` then locks the missing
ancestors and plans again from fresh rows. A parent read without a lock never finishes
in the plan (it looks "not waiting"): the hook reports it and the store finishes it right
after the commit (:meth:`~quaero.store.postgres_base.PgBase.finish_parents`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from ..events.types import JOB_STATUS_CHANGE, LOG, PARENT_JOB_PROGRESS, Event, NewEvent
from ..jobs.models import Job, JobStatus
from ..jobs.planner import PROGRESS_LOG_INTERVAL, Planner
from . import postgres_sql as q
from .rows import dumps_json, job_from_row

__all__ = ["PgTx", "dumps", "loads", "row_to_job"]

dumps = dumps_json


loads = orjson.loads


#: statuses of a row that may stand for a final status line (``STATE_COLUMNS``' 9th)
_TERMINAL = frozenset(s.value for s in JobStatus if s.terminal)

#: the prefix of the commit hook's NOTICE naming the parents to finish (migration 0015)
_FINISH_NOTICE = "quaero finish: "


def row_to_job(r: asyncpg.Record | Sequence[Any]) -> Job:
    """A job from a row of :data:`~quaero.store.postgres_sql.JOB_COLUMNS` (or the state
    columns, whose JSON is NULL: config and metadata then read as ``{}``)."""
    return job_from_row(r, loads)


@dataclass
class PgTx:
    """What an operation sees of its transaction: the connection, the time, the events."""

    conn: asyncpg.Connection
    now: float = field(default_factory=time.time)
    #: events queued by this transaction; their seqs are assigned at commit
    queued: list[NewEvent] = field(default_factory=list)
    #: the same with their seqs, after the commit (handed to ``on_commit``)
    events: list[Event] = field(default_factory=list)
    #: rows locked so far, as fetched (a plan starts from fresh Job objects each time)
    rows: dict[int, Sequence[Any]] = field(default_factory=dict)
    #: parents read WITHOUT a lock (their counters change by deltas folded at commit)
    loose: dict[int, Sequence[Any]] = field(default_factory=dict)
    #: what the store prepared before the transaction began (e.g. a block of job ids)
    prepared: Any = None
    #: the commit hook is armed (once per transaction)
    hooked: bool = False
    #: after the commit: waiting parents whose last active child finished in it
    finish: list[int] = field(default_factory=list)

    # ------------------------------------------------------------------ locking
    async def lock(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Run a locking query and remember its rows."""
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        for r in rows:
            self.rows[r[0]] = r
        return rows

    async def lock_ids(self, ids: Iterable[int]) -> None:
        want = sorted(set(ids) - self.rows.keys())
        if want:
            await self.lock(q.LOCK_IDS, want)

    async def lock_children_first(self, ids: Iterable[int]) -> None:
        want = sorted(set(ids) - self.rows.keys())
        if want:
            await self.lock(q.LOCK_IDS_DESC, want)

    async def lock_with_parents(self, ids: Iterable[int]) -> None:
        want = sorted(set(ids) - self.rows.keys())
        if want:
            await self.lock(q.LOCK_WITH_PARENTS, want)

    async def lock_active_subtrees(self, ids: Iterable[int]) -> list[int]:
        """Lock ``ids``, the pending and running jobs below them and their parents,
        deepest level first (as a commit locks a child before its parent), until no new
        active descendant shows up (spawns race us). Returns the locked active jobs below
        and including ``ids``, parents before children."""
        roots = sorted(set(ids))
        while True:
            rows = await self.conn.fetch(q.ACTIVE_BELOW, roots)
            need = {r[0] for r in rows} | {r[1] for r in rows if r[1] is not None}
            if need <= self.rows.keys():
                return [r[0] for r in sorted(rows, key=lambda r: (r[2], r[0]))]
            await self.lock_children_first(need)

    async def lock_changed(self, sql: str, *args: Any) -> list[int]:
        """Run a query whose rows are ``(locked?, job columns...)``: the locked jobs are
        the ones that change, the others their parents (read without a lock). Returns the
        locked ids in row order."""
        ids = []
        for r in await self.conn.fetch(sql, *args):
            values = tuple(r)[1:]
            if r[0]:
                self.rows[values[0]] = values
                ids.append(values[0])
            else:
                self.loose[values[0]] = values
        return ids

    async def lock_and_claim(self, sql: str, *args: Any) -> tuple[list[int], list[int]]:
        """Run a query whose rows are ``(kind, job columns...)``, kind 0 for a locked job
        that changes, 1 for a locked claimed job, 2 for a parent read without a lock.
        Returns the changed and the claimed ids, each in row order."""
        out: tuple[list[int], list[int]] = ([], [])
        for r in await self.conn.fetch(sql, *args):
            values = tuple(r)[1:]
            if r[0] == 2:
                self.loose[values[0]] = values
            else:
                self.rows[values[0]] = values
                out[r[0]].append(values[0])
        return out

    def fresh_jobs(self) -> dict[int, Job]:
        jobs = {i: row_to_job(r) for i, r in self.loose.items() if i not in self.rows}
        for job in jobs.values():
            job.waiting = False  # a stale view never decides that a parent is done
        jobs.update((i, row_to_job(r)) for i, r in self.rows.items())
        return jobs

    async def plan(self, steps: Callable[[Planner], Any]) -> tuple[Planner, Any]:
        """Run ``steps`` on a planner over the locked rows; load missing ancestors
        (without a lock: their counters change by deltas at COMMIT) and lock the missing
        parents of status changes, and start over until nothing is missing. Returns the
        finished planner and what ``steps`` returned."""
        tried: set[int] = set()
        while True:
            plan = Planner(self.fresh_jobs(), now=self.now)
            value = steps(plan)
            known = self.rows.keys() | self.loose.keys()
            missing = {
                p
                for e in plan.events
                if e.type == JOB_STATUS_CHANGE
                and (p := e.payload.get("parent_id")) is not None
                and p not in self.rows
                and p not in self.loose
            }
            ancestors = plan.missing - known - tried
            if not missing and not ancestors:
                plan.finish()
                return plan, value
            before = len(self.rows) + len(self.loose)
            if missing:
                await self.lock_ids(missing)
            if ancestors:
                tried |= ancestors
                for r in await self.conn.fetch(q.WITH_ANCESTORS, sorted(ancestors)):
                    if r[0] not in self.rows:
                        self.loose[r[0]] = r
            if len(self.rows) + len(self.loose) == before:  # deleted: plan as SQLite does
                plan.finish()
                return plan, value

    # ------------------------------------------------------------------ writing
    async def write(self, plan: Planner, first: Sequence[NewEvent] = ()) -> None:
        """Write the plan (and ``first`` events ahead of the plan's) in one statement.

        Parents read without a lock are not written: their counter changes go in as
        deltas, and their progress events and log lines are made at commit from the
        exact counters (the planner's, from a stale view, are dropped)."""
        loose = {i for i in plan.touched_ancestors if i in self.loose and i not in self.rows}
        deltas = []
        for i in sorted(loose):
            old_job = row_to_job(self.loose[i])
            new, old = plan.jobs[i].children, old_job.children
            dn, do = plan.jobs[i].descendants, old_job.descendants
            deltas.append(
                (
                    i,
                    new.total - old.total,
                    new.pending - old.pending,
                    new.running - old.running,
                    new.completed - old.completed,
                    new.failed - old.failed,
                    new.cancelled - old.cancelled,
                    dn.total - do.total,
                    dn.pending - do.pending,
                    dn.running - do.running,
                    dn.completed - do.completed,
                    dn.failed - do.failed,
                    dn.cancelled - do.cancelled,
                    int(i in plan.touched_parents),
                )
            )
        errors = [
            (job_id, key, d.count, d.add[::-1], d.remove, d.last_seen or 0.0)
            for (job_id, key), d in sorted(plan.error_deltas.items())
        ]
        events = [*first, *plan.events]
        logs: Sequence[Any] = plan.logs
        if loose:
            events = [
                e
                for e in events
                if not (e.job_id in loose and e.type in (PARENT_JOB_PROGRESS, LOG))
            ]
            logs = [g for g in logs if g.job_id not in loose]
        inserted = {j.id for j in plan.inserts}
        late = []
        upd = []
        for job_id in sorted(plan.dirty - loose):
            j = plan.jobs[job_id]
            if job_id in inserted:
                if j.status is JobStatus.PENDING and j.children.total == 0:
                    continue
                late.append(j)
            else:
                upd.append(j)
        await self._write(plan.inserts, upd, logs, events, deltas, plan.timestamp, errors)
        if late:
            await self._write((), late, (), ())

    async def write_events(self, events: Sequence[NewEvent]) -> None:
        """Queue events; they get their seqs when the transaction commits."""
        await self._write((), (), (), events)

    async def _write(
        self,
        inserts: Sequence[Job],
        updates: Sequence[Job],
        logs: Sequence[Any],
        events: Sequence[NewEvent],
        deltas: Sequence[tuple[int, ...]] = (),
        timestamp: str = "",
        errors: Sequence[tuple[Any, ...]] = (),
    ) -> None:
        if not (inserts or updates or logs or events or deltas or errors):
            return
        hook = bool(events or deltas or errors) and not self.hooked
        lines = _StatusLines(updates, logs, self.rows)
        args: list[Any] = [
            [j.id for j in inserts],
            [j.parent_id for j in inserts],
            [j.root_id for j in inserts],
            [j.depth for j in inserts],
            [j.job_type for j in inserts],
            [j.name for j in inserts],
            [dumps(j.config) for j in inserts],
            [dumps(j.metadata) for j in inserts],
            [j.status.value for j in inserts],
            [j.max_attempts for j in inserts],
            [j.available_at for j in inserts],
            [j.created_at for j in inserts],
            [j.dedupe_key for j in inserts],
            [j.id for j in updates],
            [j.status.value for j in updates],
            [j.attempts for j in updates],
            [j.lease_owner for j in updates],
            [j.lease_expires_at for j in updates],
            [j.heartbeat_at for j in updates],
            [j.available_at for j in updates],
            [j.started_at for j in updates],
            [j.completed_at for j in updates],
            [j.error for j in updates],
            [None if j.result is None else dumps(j.result) for j in updates],
            [j.waiting for j in updates],
            [j.progress_logged_at for j in updates],
            [j.children.total for j in updates],
            [j.children.pending for j in updates],
            [j.children.running for j in updates],
            [j.children.completed for j in updates],
            [j.children.failed for j in updates],
            [j.children.cancelled for j in updates],
            [g.job_id for _, g in lines.rows],
            [g.root_id for _, g in lines.rows],
            [g.ts for _, g in lines.rows],
            [g.level for _, g in lines.rows],
            [g.message for _, g in lines.rows],
            dumps([(e.type, e.job_id, e.root_id, e.payload) for e in events]),
            dumps(deltas),
            dumps({"now": self.now, "ts": timestamp, "log_interval": PROGRESS_LOG_INTERVAL}),
            hook,
            [j.error_group for j in updates],
            [j.descendants.total for j in updates],
            [j.descendants.pending for j in updates],
            [j.descendants.running for j in updates],
            [j.descendants.completed for j in updates],
            [j.descendants.failed for j in updates],
            [j.descendants.cancelled for j in updates],
            dumps(errors),
            [dumps(j.progress_samples) for j in updates],
            len(logs),
            lines.run_sel,
            lines.end_sel,
            lines.keep_run,
            lines.keep_end,
            [n for n, _ in lines.rows],
        ]
        await self.conn.fetchval(q.WRITE, *args)
        self.queued.extend(events)
        self.hooked = self.hooked or hook

    def on_notice(self, _conn: Any, message: asyncpg.PostgresLogMessage) -> None:
        """The commit hook's report (migration 0015): ``quaero finish: <id>,<id>...``,
        the waiting parents whose last active child finished in this commit. It arrives
        with the COMMIT's reply, ahead of it (asyncpg calls listeners in order)."""
        text = str(message.message or "")
        if text.startswith(_FINISH_NOTICE):
            self.finish = [int(i) for i in text[len(_FINISH_NOTICE) :].split(",") if i]

    async def after_commit(self) -> None:
        """Read what the commit hook did (for an ``on_commit`` that takes the events):
        the seqs it gave the queued events, the events it made itself, and the parents
        to finish."""
        if not self.hooked:
            return
        last, n, finish, made = await self.conn.fetchrow(q.AFTER_COMMIT, len(self.queued), True)
        self.finish = [int(i) for i in finish.split(",")] if finish else []
        if not n:
            return
        first = int(last) - n + 1
        self.events = [
            Event(first + i, e.type, e.job_id, e.root_id, e.payload, self.now)
            for i, e in enumerate(self.queued)
        ]
        if made is not None:  # progress events and log lines made at commit
            self.events.extend(Event(r[0], r[1], r[2], r[3], r[4], self.now) for r in loads(made))


class _StatusLines:
    """Where a write's log lines go (migration 0016). Lines get log ids in the plan's
    order (1-based positions). The first ``Status changed: running`` and a final status
    line without a reason (the planner's ``synthetic``) of a row this write updates are
    kept as that row's ``run_log_id``/``end_log_id``; every other line is a row
    (``rows``: position and line). A row that stops standing for a line (it runs again,
    is reopened, or gets a newer such line) first turns it into a log row (``keep_*``),
    as :meth:`quaero.store.sqlite.SqliteStore._keep_replaced_lines` does."""

    def __init__(
        self, updates: Sequence[Job], logs: Sequence[Any], before: dict[int, Sequence[Any]]
    ) -> None:
        ids = {j.id for j in updates}
        run_at: dict[int, int] = {}
        end_at: dict[int, int] = {}
        kept: set[int] = set()
        for n, g in enumerate(logs, 1):
            if g.job_id in ids and g.synthetic in ("run", "end"):
                at = run_at if g.synthetic == "run" else end_at
                if g.job_id in at:  # an earlier one of the same kind stays a row
                    kept.discard(at[g.job_id])
                at[g.job_id] = n
                kept.add(n)
        self.rows = [(n, g) for n, g in enumerate(logs, 1) if n not in kept]
        not_started = {j.id for j in updates if j.started_at is None}
        not_ended = {j.id for j in updates if not j.status.terminal}
        # a row stands for a run line only once started, for a final line only while
        # terminal (every write that leaves it otherwise clears the id): only such rows,
        # as locked before this write, can have a line to keep
        started = {i for i in ids if (r := before.get(i)) is not None and r[16] is not None}
        ended = {i for i in ids if (r := before.get(i)) is not None and r[8] in _TERMINAL}
        self.keep_run = sorted((run_at.keys() | not_started) & started)
        self.keep_end = sorted((end_at.keys() | not_ended) & ended)
        self.run_sel = [run_at.get(j.id, 0 if j.id in not_started else -1) for j in updates]
        self.end_sel = [end_at.get(j.id, 0 if j.id in not_ended else -1) for j in updates]
