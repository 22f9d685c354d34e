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

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg

from ..errors import JobNotFound, JobStateError, QuaeroError, StoreError
from ..events.types import JOB_PROGRESS, JOB_STATUS_CHANGE, LOG, Event
from ..jobs.models import Job, JobStatus, NewJob, SpawnResult, StatusChange, iso
from ..jobs.planner import ChangeResult, Planner
from ..shutdown import bounded
from . import postgres_sql as q
from .base import (
    MAX_REFERRERS,
    LogEntry,
    Page,
    Store,
    check_log_levels,
    check_specs,
    page_keys,
    plan_page_depths,
)
from .migrations import load_migrations
from .postgres_documents import PgDocuments
from .postgres_explain import PgExplain
from .postgres_hosts import PgHosts
from .postgres_listen import Listener
from .postgres_reads import PgReads
from .postgres_retention import PgRetention
from .postgres_tx import PgTx, dumps, loads

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: pg_advisory_lock key of the migration step ("quaero" in ASCII)
MIGRATION_LOCK = 0x717561_65726F


class PostgresStore(PgRetention, PgDocuments, PgExplain, PgReads, PgHosts, Store):
    """PostgreSQL store at ``postgresql://user@host:port/dbname``."""

    dialect = "postgres"
    claims_with_changes = True

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
            # not asyncio.wait_for: it would wait for the cancelled close itself
            if not await bounded(self._pool.close(), 10.0, "closing the PostgreSQL pool"):
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
                lambda p: p.create(
                    todo, tx.prepared, self.default_max_attempts, max_children, self.tree_limits
                )
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

    async def lower_page_depths(
        self, job_id: int, depths: Mapping[str, int], running_here: Collection[int] = ()
    ) -> list[str]:
        if not depths:
            return []
        mine = sorted(set(running_here))
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id) is None:
                raise JobNotFound(job_id)
            rows = [tuple(r) for r in await conn.fetch(q.PAGE_DEPTHS, job_id, page_keys(depths))]
            updates, again = plan_page_depths(depths, rows, mine)
            if updates:
                ids = sorted(updates)
                done = {
                    r[0]
                    for r in await conn.fetch(
                        q.SET_PAGE_DEPTHS, ids, [updates[i] for i in ids], mine
                    )
                }
                # claimed by another process meanwhile: spawn the page again at its depth
                url_of = {r[0]: r[1] for r in rows}
                again.extend(url_of[i] for i in ids if i not in done)
        return sorted(again)

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

        ending = sorted({c.job_id for c in changes if c.status in _ENDS})

        async def op(tx: PgTx) -> list[ChangeResult]:
            await _lock_below(tx, ending)
            await tx.lock_changed(q.LOCK_CHANGED, sorted({c.job_id for c in changes}))
            await _lock_below(tx, ending)
            plan, results = await tx.plan(lambda p: [p.change(c) for c in changes])
            await tx.write(plan)
            return list(results)

        return await self._run(op)

    async def apply_and_claim(
        self,
        changes: Sequence[StatusChange],
        owner: str,
        limit: int,
        lease_seconds: float,
        job_types: Collection[str],
    ) -> tuple[list[ChangeResult], list[Job]]:
        changes = list(changes)
        types = sorted(job_types)
        if not changes:
            return [], await self.claim_jobs(owner, limit, lease_seconds, types)
        if limit <= 0 or not types:
            return await self.apply_changes(changes), []
        ending = sorted({c.job_id for c in changes if c.status in _ENDS})

        async def op(tx: PgTx) -> tuple[list[ChangeResult], list[Job]]:
            changed = sorted({c.job_id for c in changes})
            if ending:  # the failure rule may cancel subtrees: lock them first
                await _lock_below(tx, ending)
                await tx.lock_changed(q.LOCK_CHANGED, changed)
                await _lock_below(tx, ending)
                # SKIP LOCKED: never waits, so the lock order above still holds
                ids = await tx.lock_changed(q.CLAIM, tx.now, types, limit)
            else:  # the common flush (completions, retries): one round trip
                _, ids = await tx.lock_and_claim(q.LOCK_AND_CLAIM, changed, tx.now, types, limit)

            def steps(plan: Planner) -> tuple[list[ChangeResult], list[Job]]:
                results = [plan.change(c) for c in changes]
                claimed = []
                for i in ids:
                    job = plan.jobs[i]
                    if job.status is JobStatus.PENDING:  # not cancelled by a change above
                        plan.claim(job, owner, lease_seconds)
                        claimed.append(job)
                return results, claimed

            plan, (results, claimed) = await tx.plan(steps)
            await tx.write(plan)
            return list(results), list(claimed)

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

            # only a job on its last attempt fails (and takes its active subtree with it)
            await _lock_below(tx, [i for i in ids if tx.rows[i][9] >= tx.rows[i][10]])

            def steps(plan: Planner) -> None:
                for job_id in ids:
                    if plan.jobs[job_id].status is JobStatus.RUNNING:  # not cancelled here
                        plan.expire(plan.jobs[job_id])

            plan, _ = await tx.plan(steps)
            await tx.write(plan)
            return ids

        return await self._run(op)

    async def cancel_subtree(self, job_id: int, include_self: bool = True) -> int:
        async def op(tx: PgTx) -> int:
            order = await tx.lock_active_subtrees([job_id])
            if job_id not in tx.rows:
                raise JobNotFound(job_id)
            # the failure rule cancels everything below the jobs cancelled here
            below = [i for i in order if tx.rows[i][1] == job_id]
            order = [job_id] if include_self else below

            def steps(plan: Planner) -> int:
                for i in order:
                    plan.cancel(i)
                return sum(
                    1
                    for e in plan.events
                    if e.type == JOB_STATUS_CHANGE and e.payload["status"] == "cancelled"
                )

            plan, n = await tx.plan(steps)
            await tx.write(plan)
            return int(n)

        return await self._run(op)

    async def cancel_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        ids = list(job_ids)

        async def op(tx: PgTx) -> list[ChangeResult]:
            await tx.lock_active_subtrees(ids)
            await tx.lock_with_parents(ids)

            plan, results = await tx.plan(lambda p: [p.cancel(i) for i in ids])
            await tx.write(plan)
            return list(results)

        return await self._run(op)

    async def retry_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        ids = list(job_ids)

        async def op(tx: PgTx) -> list[ChangeResult]:
            # every ancestor may reopen: lock them all (parents first, like claims)
            above = [r[0] for r in await tx.conn.fetch(q.ANCESTOR_IDS, ids)]
            await tx.lock_ids([*ids, *above])
            plan, results = await tx.plan(lambda p: [p.retry(i) for i in ids])
            await tx.write(plan)
            return list(results)

        return await self._run(op)

    async def delete_subtree(self, job_id: int) -> int:
        async def op(tx: PgTx) -> int:
            counts = await self._delete(tx, [job_id])
            res = counts[0]
            if isinstance(res, Exception):
                raise res
            return res

        return await self._run(op)

    async def delete_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        ids = list(job_ids)

        async def op(tx: PgTx) -> list[ChangeResult]:
            counts = await self._delete(tx, ids)
            return [
                ChangeResult(i, error=c) if isinstance(c, QuaeroError) else ChangeResult(i)
                for i, c in zip(ids, counts, strict=True)
            ]

        return await self._run(op)

    async def _delete(self, tx: PgTx, ids: list[int]) -> list[int | QuaeroError]:
        """Delete each finished job of ``ids`` with its subtree; an error for the others."""
        await tx.lock_with_parents(ids)
        out: list[int | QuaeroError] = []
        doomed: list[int] = []
        deleted: dict[int, dict[str, int]] = {}
        gone: set[int] = set()
        for job_id in ids:
            if job_id not in tx.rows or job_id in gone:
                out.append(JobNotFound(job_id))
                continue
            rows = await tx.conn.fetch(q.SUBTREE_STATE, job_id)
            active = sum(1 for r in rows if r[2] in ("pending", "running"))
            if active:
                out.append(
                    JobStateError(
                        f"job {job_id} has {active} pending or running job(s) in its tree;"
                        " cancel it first"
                    )
                )
                continue
            sub = [r[0] for r in rows]
            gone.update(sub)
            doomed.extend(sub)
            deleted[job_id] = {
                r[0]: int(r[1])
                for r in await tx.conn.fetch(
                    "SELECT key, count FROM job_error_groups WHERE job_id = $1", job_id
                )
            }
            out.append(len(sub))

        def steps(plan: Planner) -> None:
            for job_id, groups in deleted.items():
                plan.delete(plan.jobs[job_id], groups)
            for i in gone:  # their rows are going
                plan.dirty.discard(i)
            for d in (plan.touched_parents, plan.touched_ancestors):
                for i in gone & d.keys():
                    del d[i]

        plan, _ = await tx.plan(steps)
        if doomed:
            await tx.conn.execute(q.DELETE_SUBTREE, doomed)
        await tx.write(plan)
        return out

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


#: status changes after which the failure rule may cancel a subtree
_ENDS = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


async def _lock_below(tx: PgTx, ids: Sequence[int]) -> None:
    """Lock the active subtrees of the jobs of ``ids`` that have active children (what
    the failure rule cancels if they end failed or cancelled)."""
    if not ids:
        return
    busy = [
        r[0]
        for r in await tx.conn.fetch(
            "SELECT id FROM jobs WHERE id = ANY($1::bigint[])"
            " AND child_pending + child_running > 0",
            list(ids),
        )
    ]
    if busy:
        await tx.lock_active_subtrees(busy)


#: server settings of every connection. No JIT (it only adds latency to short queries).
#: Plans are generic, made once per connection (planning every statement was a third of
#: the database's CPU in a fan-out, and more inside the commit hook), and sequential
#: scans are priced out: a generic plan is often made while `jobs` is still small, and a
#: scan that is cheap then would make every later claim or commit O(jobs). Every
#: statement of the store has an index to use (see tests/integration/postgres/test_plans.py).
_SETTINGS = {
    "application_name": "quaero",
    "jit": "off",
    "plan_cache_mode": "force_generic_plan",
    "enable_seqscan": "off",
    # the commit hook reports parents to finish in a NOTICE (migration 0015)
    "client_min_messages": "notice",
}


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
