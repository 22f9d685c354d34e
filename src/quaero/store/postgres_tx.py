"""One PostgreSQL transaction of the job engine: lock rows, plan, write, remember events.

A write loads (and locks, in id order) the rows it needs, runs the shared pure
:class:`~quaero.jobs.planner.Planner` on them and writes the plan with ONE statement
(:data:`~quaero.store.postgres_sql.WRITE`). The planner may need rows it did not load: a
parent whose last child finished changes its own status, which counts in the grandparent.
:meth:`PgTx.plan` then locks the missing ancestors and plans again from fresh rows, so
the common case (a child and its parent) never locks the grandparent or the root.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from ..events.types import JOB_STATUS_CHANGE, Event, NewEvent
from ..jobs.models import Counters, Job, JobStatus
from ..jobs.planner import Planner
from . import postgres_sql as q

__all__ = ["PgTx", "dumps", "loads", "row_to_job"]

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=_OPTS).decode()


loads = orjson.loads


def _json(text: str | None, default: Any) -> Any:
    return default if text is None else loads(text)


def row_to_job(r: asyncpg.Record | Sequence[Any]) -> Job:
    """A job from a row of :data:`~quaero.store.postgres_sql.JOB_COLUMNS` (or the state
    columns, whose JSON is NULL: config and metadata then read as ``{}``)."""
    return Job(
        id=r[0],
        parent_id=r[1],
        root_id=r[2],
        depth=r[3],
        job_type=r[4],
        name=r[5],
        config=_json(r[6], {}),
        metadata=_json(r[7], {}),
        status=JobStatus(r[8]),
        attempts=r[9],
        max_attempts=r[10],
        lease_owner=r[11],
        lease_expires_at=r[12],
        heartbeat_at=r[13],
        available_at=r[14],
        created_at=r[15],
        started_at=r[16],
        completed_at=r[17],
        error=r[18],
        result=_json(r[19], None),
        result_count=r[20],
        progress=_json(r[21], None),
        waiting=r[22],
        dedupe_key=r[23],
        progress_logged_at=r[24],
        children=Counters(r[25], r[26], r[27], r[28], r[29], r[30]),
    )


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
    #: what the store prepared before the transaction began (e.g. a block of job ids)
    prepared: Any = None

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

    async def lock_with_parents(self, ids: Iterable[int]) -> None:
        want = sorted(set(ids) - self.rows.keys())
        if want:
            await self.lock(q.LOCK_WITH_PARENTS, want)

    def fresh_jobs(self) -> dict[int, Job]:
        return {i: row_to_job(r) for i, r in self.rows.items()}

    async def plan(self, steps: Callable[[Planner], Any]) -> tuple[Planner, Any]:
        """Run ``steps`` on a planner over the locked rows; lock missing ancestors and
        start over until every status change's parent was loaded. Returns the finished
        planner and what ``steps`` returned."""
        while True:
            plan = Planner(self.fresh_jobs(), now=self.now)
            value = steps(plan)
            missing = {
                p
                for e in plan.events
                if e.type == JOB_STATUS_CHANGE
                and (p := e.payload.get("parent_id")) is not None
                and p not in self.rows
            }
            if not missing:
                plan.finish()
                return plan, value
            before = len(self.rows)
            await self.lock_ids(missing)
            if len(self.rows) == before:  # deleted parents: plan as SQLite does
                plan.finish()
                return plan, value

    # ------------------------------------------------------------------ writing
    async def write(self, plan: Planner, first: Sequence[NewEvent] = ()) -> None:
        """Write the plan (and ``first`` events ahead of the plan's) in one statement."""
        inserted = {j.id for j in plan.inserts}
        late = []
        upd = []
        for job_id in sorted(plan.dirty):
            j = plan.jobs[job_id]
            if job_id in inserted:
                if j.status is JobStatus.PENDING and j.children.total == 0:
                    continue
                late.append(j)
            else:
                upd.append(j)
        await self._write(plan.inserts, upd, plan.logs, [*first, *plan.events])
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
    ) -> None:
        if not (inserts or updates or logs or events):
            return
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
            [g.job_id for g in logs],
            [g.root_id for g in logs],
            [g.ts for g in logs],
            [g.level for g in logs],
            [g.message for g in logs],
            [e.type for e in events],
            [e.job_id for e in events],
            [e.root_id for e in events],
            [dumps(e.payload) for e in events],
            self.now,
        ]
        await self.conn.fetchval(q.WRITE, *args)
        self.queued.extend(events)

    def committed(self, last_seq: int) -> list[Event]:
        """The queued events with the seqs the commit gave them (ending at ``last_seq``)."""
        first = last_seq - len(self.queued) + 1
        self.events = [
            Event(first + i, e.type, e.job_id, e.root_id, e.payload, self.now)
            for i, e in enumerate(self.queued)
        ]
        return self.events
