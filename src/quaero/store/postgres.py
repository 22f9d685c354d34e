"""The scale-out store: PostgreSQL through an asyncpg pool, for many worker machines.

Same rules as SQLite (the shared :class:`~quaero.jobs.planner.Planner`), adapted to many
concurrent writers on many machines:

- **Claims** take due pending jobs with ``FOR UPDATE SKIP LOCKED``, a batch per
  transaction; leases and heartbeats as on SQLite; any worker requeues expired leases
  (``SKIP LOCKED`` too, so reapers never queue behind each other).
- **Locks**: a status change locks only the jobs that change (in id order). Their
  parents are read without a lock: the planner's counter changes become *deltas* that the
  commit hook (migration 0004) folds into the parent rows at COMMIT, in commit order,
  where it also makes each parent's ``parent_job_progress`` event from the exact counters.
  So a parent with 100,000 children and many workers is locked for the commit only, never
  for a client round trip. A waiting parent whose last child finished is completed right
  after the commit (and by the reapers' sweeper after a crash). Creating children,
  cancelling and deleting lock the parent rows themselves (parents first); the rare
  deadlock with a commit is retried.
- **Event order**: the commit hook numbers every event of the transaction from a
  one-row counter that stays locked until the commit is visible: seq order is commit order,
  gap-free, as every reader sees it (``postgres_reads``).
- **Wake-ups**: the hook calls ``pg_notify``; :class:`Listener` turns it into ``on_wake``
  in every process (idle workers claim, web processes read the log by seq).
- **Migrations** run under an advisory lock, so processes may start together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg

from ..errors import JobNotFound, JobStateError, StoreError
from ..events.types import JOB_PROGRESS, LOG, Event
from ..jobs.models import ACTIVE, Job, JobStatus, NewJob, SpawnResult, StatusChange, iso
from ..jobs.planner import ChangeResult, Planner
from . import postgres_sql as q
from .base import MAX_REFERRERS, LogEntry, Page, Store, check_log_levels, check_specs
from .migrations import load_migrations
from .postgres_documents import PgDocuments
from .postgres_listen import Listener
from .postgres_reads import PgReads
from .postgres_tx import PgTx, dumps, loads

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: pg_advisory_lock key of the migration step ("quaero" in ASCII)
MIGRATION_LOCK = 0x717561_65726F


class PostgresStore(PgDocuments, PgReads, Store):
    """PostgreSQL store at ``postgresql://user@host:port/dbname``."""

    dialect = "postgres"

    def __init__(self, url: str, *, pool_min: int = 1, pool_max: int = 10, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.pool_min = pool_min
        self.pool_max = pool_max
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None

    # ------------------------------------------------------------------ lifecycle
    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url, server_settings=_SETTINGS)

    async def open(self) -> None:
        try:
            conn = await self._connect()
        except (OSError, asyncpg.PostgresError, ValueError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {_safe(self.url)}: {exc}") from exc
        try:
            await self._migrate(conn)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"cannot migrate PostgreSQL database: {exc}") from exc
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=self.pool_min,
            max_size=self.pool_max,
            server_settings=_SETTINGS,
            reset=_keep_session,
        )
        self._listener = Listener(self._connect, self._notified)
        await self._listener.start()

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        # several processes may start at once: one migrates, the others wait and see it done
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version"
                " (version integer PRIMARY KEY, applied_at double precision NOT NULL)"
            )
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for version, sql in load_migrations("postgres"):
                if version <= current:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                        version,
                        time.time(),
                    )
                log.info("applied PostgreSQL migration %04d", version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 10.0)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    def _notified(self, _seq: int) -> None:
        if self.on_wake is not None:
            self.on_wake()

    # ------------------------------------------------------------------ job writes
    async def spawn_children(
        self, specs: Sequence[NewJob], max_children: int | None = None
    ) -> SpawnResult:
        specs = list(specs)
        check_specs(specs)
        if not specs:
            return SpawnResult()

        async def take_ids(conn: asyncpg.Connection) -> int:
            # its own tiny transaction: the counter row is locked for microseconds only
            return int(await conn.fetchval(q.TAKE_JOB_IDS, len(specs)))

        async def op(tx: PgTx) -> SpawnResult:
            await tx.lock_ids({s.parent_id for s in specs if s.parent_id is not None})
            todo = await _drop_duplicates(tx, specs)  # after the parent locks: sees all
            result = SpawnResult(duplicates=len(specs) - len(todo))
            if not todo:
                return result
            plan, created = await tx.plan(
                lambda p: p.create(todo, tx.prepared, self.default_max_attempts, max_children)
            )
            result.created = list(created)
            result.over_budget = plan.over_budget
            result.over_budget_keys = plan.over_budget_keys
            await tx.write(plan)
            return result

        return await self._run(op, prepare=take_ids)

    async def record_skips(self, job_id: int, skips: Mapping[str, str]) -> dict[str, int]:
        items = sorted(skips.items())
        if not items:
            return {}
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id) is None:
                raise JobNotFound(job_id)
            rows = await conn.fetch(
                q.RECORD_SKIPS, job_id, [u for u, _ in items], [r for _, r in items]
            )
            counts = {f"skipped_{r[0]}": int(r[1]) for r in rows}
            if counts:
                names = sorted(counts)
                await conn.execute(q.ADD_JOB_STATS, job_id, names, [counts[n] for n in names])
        return counts

    async def list_skips(
        self, job_id: int, reason: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        where = "job_id = $1"
        params: list[Any] = [job_id]
        if reason:
            where += " AND reason = $2"
            params.append(reason)
        n = len(params)
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(f"SELECT COUNT(*) FROM job_skips WHERE {where}", *params)
            rows = await conn.fetch(
                f"SELECT url, reason FROM job_skips WHERE {where}"
                f" ORDER BY url LIMIT ${n + 1} OFFSET ${n + 2}",
                *params,
                limit,
                offset,
            )
        return Page([{"url": r[0], "reason": r[1]} for r in rows], int(total))

    async def record_broken_link(
        self, job_id: int, url: str, status: int, referrers: Sequence[str]
    ) -> bool:
        refs = list(dict.fromkeys(referrers))[:MAX_REFERRERS]
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id) is None:
                raise JobNotFound(job_id)
            new = await conn.fetchval(q.RECORD_BROKEN_LINK, job_id, url, status, dumps(refs))
            if new:
                await conn.execute(q.ADD_JOB_STATS, job_id, ["broken_links"], [1])
                return True
            old = loads(
                await conn.fetchval(
                    "SELECT referrers::text FROM job_broken_links WHERE job_id = $1 AND url = $2",
                    job_id,
                    url,
                )
            )
            merged = list(dict.fromkeys([*old, *refs]))[:MAX_REFERRERS]
            await conn.execute(
                "UPDATE job_broken_links SET status = $3, referrers = $4::jsonb"
                " WHERE job_id = $1 AND url = $2",
                job_id,
                url,
                status,
                dumps(merged),
            )
            return False

    async def list_broken_links(self, job_id: int, limit: int = 50, offset: int = 0) -> Page:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(
                "SELECT COUNT(*) FROM job_broken_links WHERE job_id = $1", job_id
            )
            rows = await conn.fetch(
                "SELECT url, status, referrers::text FROM job_broken_links WHERE job_id = $1"
                " ORDER BY url LIMIT $2 OFFSET $3",
                job_id,
                limit,
                offset,
            )
        items = [{"url": r[0], "status": r[1], "referrers": loads(r[2])} for r in rows]
        return Page(items, int(total))

    async def record_aliases(self, job_id: int, aliases: Mapping[str, str], reason: str) -> int:
        items = sorted(aliases.items())
        if not items:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id) is None:
                raise JobNotFound(job_id)
            new = int(
                await conn.fetchval(
                    q.RECORD_ALIASES,
                    job_id,
                    [u for u, _ in items],
                    [t for _, t in items],
                    reason,
                )
            )
            if new:
                names = sorted(["aliases", f"aliases_{reason}"])
                await conn.execute(q.ADD_JOB_STATS, job_id, names, [new, new])
        return new

    async def list_aliases(self, job_id: int, limit: int = 50, offset: int = 0) -> Page:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(
                "SELECT COUNT(*) FROM document_aliases WHERE job_id = $1", job_id
            )
            rows = await conn.fetch(
                "SELECT url, target, reason FROM document_aliases WHERE job_id = $1"
                " ORDER BY url LIMIT $2 OFFSET $3",
                job_id,
                limit,
                offset,
            )
        return Page([{"url": r[0], "target": r[1], "reason": r[2]} for r in rows], int(total))

    async def add_job_stats(self, job_id: int, deltas: dict[str, int]) -> None:
        items = sorted((k, int(v)) for k, v in deltas.items() if v)
        if not items:
            return
        status = await self.pool.execute(
            q.ADD_JOB_STATS, job_id, [k for k, _ in items], [v for _, v in items]
        )
        if status.endswith(" 0"):
            raise JobNotFound(job_id)

    async def claim_jobs(
        self, owner: str, limit: int, lease_seconds: float, job_types: Collection[str]
    ) -> list[Job]:
        types = sorted(job_types)
        if limit <= 0 or not types:
            return []

        async def op(tx: PgTx) -> list[Job]:
            ids = await tx.lock_changed(q.CLAIM, tx.now, types, limit)
            if not ids:
                return []

            def steps(plan: Planner) -> list[Job]:
                for i in ids:
                    plan.claim(plan.jobs[i], owner, lease_seconds)
                return [plan.jobs[i] for i in ids]

            plan, claimed = await tx.plan(steps)
            await tx.write(plan)
            return list(claimed)

        return await self._run(op)

    async def apply_changes(self, changes: Sequence[StatusChange]) -> list[ChangeResult]:
        changes = list(changes)
        if not changes:
            return []

        async def op(tx: PgTx) -> list[ChangeResult]:
            await tx.lock_changed(q.LOCK_CHANGED, sorted({c.job_id for c in changes}))
            plan, results = await tx.plan(lambda p: [p.change(c) for c in changes])
            await tx.write(plan)
            return list(results)

        return await self._run(op)

    async def heartbeat(
        self, owner: str, job_ids: Collection[int], lease_seconds: float
    ) -> set[int]:
        ids = sorted(job_ids)
        if not ids:
            return set()
        now = time.time()
        rows = await self.pool.fetch(q.HEARTBEAT, now + lease_seconds, now, owner, ids)
        return {r[0] for r in rows}

    async def requeue_expired(self, limit: int = 1000) -> list[int]:
        # also the sweeper of parents left waiting by a process that died right after the
        # commit of their last child (it would have finished them)
        ready = [r[0] for r in await self.pool.fetch(q.READY_PARENTS, 100)]
        if ready:
            await self.finish_parents(ready)

        async def op(tx: PgTx) -> list[int]:
            ids = await tx.lock_changed(q.EXPIRED, tx.now, limit)
            if not ids:
                return []

            def steps(plan: Planner) -> None:
                for job_id in ids:
                    job = plan.jobs[job_id]
                    last = job.attempts >= job.max_attempts
                    plan.change(
                        StatusChange(
                            job_id,
                            JobStatus.FAILED if last else JobStatus.PENDING,
                            error="lease expired on the last attempt"
                            if last
                            else "lease expired (worker lost)",
                            reason="lease expired",
                        )
                    )

            plan, _ = await tx.plan(steps)
            await tx.write(plan)
            return ids

        return await self._run(op)

    async def cancel_subtree(self, job_id: int, include_self: bool = True) -> int:
        async def op(tx: PgTx) -> int:
            order: list[int] = []
            while True:  # lock until no new active descendant shows up (spawns race us)
                rows = await tx.conn.fetch(q.SUBTREE_STATE, job_id)
                if not rows:
                    raise JobNotFound(job_id)
                active = sorted((r[3], r[0]) for r in rows if r[2] in ("pending", "running"))
                order = [i for _, i in active if include_self or i != job_id]
                need = {i for _, i in active} | {
                    r[1] for r in rows if r[2] in ("pending", "running") and r[1] is not None
                }
                if not order or need <= tx.rows.keys():
                    break
                await tx.lock_children_first(need)
            if not order:
                return 0

            def steps(plan: Planner) -> int:
                n = 0
                for i in order:  # parents before children: a parent is cancelled first
                    job = plan.jobs.get(i)
                    change = StatusChange(i, JobStatus.CANCELLED, reason="cancelled")
                    if job is not None and job.status in ACTIVE and plan.change(change).ok:
                        n += 1
                return n

            plan, n = await tx.plan(steps)
            await tx.write(plan)
            return int(n)

        return await self._run(op)

    async def delete_subtree(self, job_id: int) -> int:
        async def op(tx: PgTx) -> int:
            await tx.lock_with_parents([job_id])
            if job_id not in tx.rows:
                raise JobNotFound(job_id)
            rows = await tx.conn.fetch(q.SUBTREE_STATE, job_id)
            ids = [r[0] for r in rows]
            active = sum(1 for r in rows if r[2] in ("pending", "running"))
            if active:
                raise JobStateError(
                    f"job {job_id} has {active} pending or running job(s) in its tree;"
                    " cancel it first"
                )
            await tx.conn.execute(q.DELETE_SUBTREE, ids)
            plan = Planner(tx.fresh_jobs(), now=tx.now)
            plan.delete(plan.jobs[job_id])  # the event and the parent's counters
            plan.dirty.discard(job_id)
            plan.finish()
            await tx.write(plan)
            return len(ids)

        return await self._run(op)

    async def add_logs(self, entries: Sequence[LogEntry], publish: bool = True) -> None:
        entries = list(entries)
        if not entries:
            return
        check_log_levels(entries)
        payloads = [
            {
                "job_id": e.job_id,
                "timestamp": iso(e.timestamp),
                "level": e.level,
                "message": e.message,
            }
            for e in entries
        ]
        now = time.time()
        try:
            row = await self.pool.fetchrow(
                q.ADD_LOGS,
                [e.job_id for e in entries],
                [e.timestamp for e in entries],
                [e.level for e in entries],
                [e.message for e in entries],
                [dumps(p) for p in payloads],
                publish,
                now,
            )
        except asyncpg.PostgresError as exc:
            raise StoreError(f"PostgreSQL: {exc}") from exc
        if row is None:
            return
        last, kept = row[0], row[1]
        first = last - len(kept) + 1
        self._publish(
            [
                Event(first + k, LOG, entries[n - 1].job_id, None, payloads[n - 1], now)
                for k, n in enumerate(kept)
            ]
        )

    async def set_progress(self, job_id: int, progress: dict[str, Any]) -> None:
        payload = {"job_id": job_id, **progress}
        now = time.time()
        row = await self.pool.fetchrow(q.SET_PROGRESS, job_id, dumps(progress), dumps(payload), now)
        if row is None:
            raise JobNotFound(job_id)
        self._publish([Event(row[1], JOB_PROGRESS, job_id, row[0], payload, now)])

    async def add_result_count(self, job_id: int, n: int) -> None:
        status = await self.pool.execute(q.ADD_RESULT_COUNT, job_id, n)
        if status.endswith(" 0"):
            raise JobNotFound(job_id)

    async def run_in_transaction(self, fn: Callable[[PgTx], Awaitable[T]]) -> T:
        """Run ``fn`` in a transaction (for modules that own extra tables); events it
        writes with ``tx.write_events`` are published on commit."""
        return await self._run(fn)

    # ------------------------------------------------------------------ events
    async def prune_events(self, older_than: float) -> int:
        status = await self.pool.execute(q.PRUNE_EVENTS, older_than)
        return int(status.split()[-1])


#: server settings of every connection: no JIT (it only adds latency to short queries)
_SETTINGS = {"application_name": "quaero", "jit": "off", "plan_cache_mode": "force_generic_plan"}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release: nothing to undo (asyncpg rolls back an open transaction; our
    settings are transaction-local). Saves a round trip per operation."""


async def _drop_duplicates(tx: PgTx, specs: list[NewJob]) -> list[NewJob]:
    """Specs whose ``dedupe_key`` is free under their parent (the first one in the batch)."""
    keyed: dict[tuple[int | None, str], NewJob] = {}
    for s in specs:
        if s.dedupe_key is not None and (s.parent_id, s.dedupe_key) not in keyed:
            keyed[(s.parent_id, s.dedupe_key)] = s
    if not keyed:
        return specs
    with_parent = [(p, k) for p, k in keyed if p is not None]
    rows = await tx.conn.fetch(
        q.DEDUPE_TAKEN,
        [p for p, _ in with_parent],
        [k for _, k in with_parent],
        [k for p, k in keyed if p is None],
    )
    taken = {(r[0], r[1]) for r in rows}
    return [
        s
        for s in specs
        if s.dedupe_key is None
        or ((s.parent_id, s.dedupe_key) not in taken and keyed[(s.parent_id, s.dedupe_key)] is s)
    ]


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
