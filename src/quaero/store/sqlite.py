"""The embedded default store: SQLite in WAL mode, one writer thread, pooled readers.

Writes go through :class:`~quaero.store.sqlite_writer.Writer`, which commits whatever
operations are waiting in one transaction. Reads run on a small thread pool, each thread
with its own read connection (WAL lets them read while the writer writes).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ..errors import InvalidJobSpec, JobNotFound, JobStateError, StoreError
from ..events.types import JOB_DELETED, JOB_PROGRESS, LOG, Event, NewEvent
from ..jobs.models import ACTIVE, Counters, Job, JobStatus, NewJob, StatusChange
from ..jobs.planner import ChangeResult, Planner
from . import sqlite_sql as q
from .base import (
    JOB_ORDER_KEYS,
    LOG_LEVELS,
    Drift,
    JobQuery,
    LogEntry,
    LogQuery,
    Page,
    Store,
)
from .migrations import load_migrations
from .sqlite_writer import TxContext, Writer

__all__ = ["SqliteStore"]

T = TypeVar("T")
_CHUNK = 500


_OPTS = orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=_OPTS).decode()


_loads = orjson.loads


def _path_from_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :] if not url.startswith("sqlite:////") else url[9:]
    if url.startswith("sqlite://"):
        return url[len("sqlite://") :]
    return url


def _row_to_job(r: sqlite3.Row | tuple[Any, ...], full: bool = True) -> Job:
    """A job from a row; ``full=False`` skips decoding config/metadata/result/progress
    (a status change only needs the state columns)."""
    if not full:
        return Job(
            id=r[0],
            parent_id=r[1],
            root_id=r[2],
            depth=r[3],
            job_type=r[4],
            name=r[5],
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
            result=None,
            result_count=r[20],
            waiting=bool(r[22]),
            dedupe_key=r[23],
            progress_logged_at=r[24],
            children=Counters(r[25], r[26], r[27], r[28], r[29], r[30]),
        )
    return Job(
        id=r[0],
        parent_id=r[1],
        root_id=r[2],
        depth=r[3],
        job_type=r[4],
        name=r[5],
        config=_loads(r[6]),
        metadata=_loads(r[7]),
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
        result=_loads(r[19]) if r[19] is not None else None,
        result_count=r[20],
        progress=_loads(r[21]) if r[21] is not None else None,
        waiting=bool(r[22]),
        dedupe_key=r[23],
        progress_logged_at=r[24],
        children=Counters(r[25], r[26], r[27], r[28], r[29], r[30]),
    )


def _chunks(ids: Sequence[int], n: int = _CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


class SqliteStore(Store):
    """SQLite (WAL) store at ``sqlite:///path/to/quaero.db`` or a plain path."""

    dialect = "sqlite"

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = _path_from_url(url)
        self.busy_timeout_ms = busy_timeout_ms
        self._writer: Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ connections
    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self.busy_timeout_ms / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -65536")
        if readonly:
            conn.execute("PRAGMA query_only = 1")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly=True)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreError("store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    async def _write(self, fn: Callable[[TxContext], T]) -> T:
        if self._writer is None:
            raise StoreError("store is not open")
        return await self._writer.submit(fn)

    def _publish(self, events: list[Event]) -> None:
        if self.on_commit is not None:
            self.on_commit(events)

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create directory {parent}: {exc}") from exc
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use SQLite database {self.path}: {exc}") from exc
        finally:
            conn.close()
        self._writer = Writer(self._connect, self._publish)
        self._writer.start()
        self._readers = ThreadPoolExecutor(max_workers=3, thread_name_prefix="quaero-sqlite-read")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"
            ).fetchone()[0]
            for version, sql in load_migrations("sqlite"):
                if version <= current:
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._local = threading.local()

    async def schema_version(self) -> int:
        return await self._read(
            lambda c: int(
                c.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            )
        )

    @property
    def writer_stats(self) -> tuple[int, int]:
        """(transactions committed, operations committed) by this process."""
        w = self._writer
        return (w.commits, w.operations) if w else (0, 0)

    # ------------------------------------------------------------------ tx helpers
    def _load(
        self, ctx: TxContext, ids: Iterable[int], into: dict[int, Job], full: bool = False
    ) -> None:
        want = [i for i in set(ids) if i not in into]
        for chunk in _chunks(want):
            sql = q.SELECT_JOBS_BY_IDS.format(ids=",".join("?" * len(chunk)))
            for r in ctx.conn.execute(sql, chunk):
                job = _row_to_job(r, full)
                into[job.id] = job

    def _load_ancestors(self, ctx: TxContext, jobs: dict[int, Job]) -> None:
        frontier = {p for j in jobs.values() if (p := j.parent_id) is not None} - jobs.keys()
        while frontier:
            self._load(ctx, frontier, jobs)
            frontier = {
                p for i in frontier if i in jobs and (p := jobs[i].parent_id) is not None
            } - jobs.keys()

    def _write_plan(self, ctx: TxContext, plan: Planner) -> list[Event]:
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
        inserted = {j.id for j in plan.inserts}
        rows = []
        for job_id in plan.dirty:
            j = plan.jobs[job_id]
            if job_id in inserted and j.status is JobStatus.PENDING and j.children.total == 0:
                continue
            c = j.children
            rows.append(
                (
                    j.status.value,
                    j.attempts,
                    j.lease_owner,
                    j.lease_expires_at,
                    j.heartbeat_at,
                    j.available_at,
                    j.started_at,
                    j.completed_at,
                    j.error,
                    None if j.result is None else _dumps(j.result),
                    int(j.waiting),
                    j.progress_logged_at,
                    c.total,
                    c.pending,
                    c.running,
                    c.completed,
                    c.failed,
                    c.cancelled,
                    job_id,
                )
            )
        if rows:
            conn.executemany(q.UPDATE_JOB_STATE, rows)
        if plan.logs:
            conn.executemany(
                q.INSERT_LOG,
                [(log.job_id, log.root_id, log.ts, log.level, log.message) for log in plan.logs],
            )
        return ctx.write_events(plan.events, _dumps)

    # ------------------------------------------------------------------ job writes
    async def create_jobs(self, specs: Sequence[NewJob]) -> list[Job]:
        specs = list(specs)
        for spec in specs:
            if not spec.job_type:
                raise InvalidJobSpec("job_type must not be empty")

        def op(ctx: TxContext) -> list[Job]:
            jobs: dict[int, Job] = {}
            parent_ids = {s.parent_id for s in specs if s.parent_id is not None}
            self._load(ctx, parent_ids, jobs)
            todo = self._drop_duplicates(ctx, specs)
            if not todo:
                return []
            plan = Planner(jobs, now=ctx.now)
            first = ctx.allocate_job_ids(len(todo))
            created = plan.create(todo, first, self.default_max_attempts)
            plan.finish()
            self._write_plan(ctx, plan)
            return created

        return await self._write(op)

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
        types = sorted(job_types)
        if limit <= 0 or not types:
            return []

        def op(ctx: TxContext) -> list[Job]:
            sql = q.CLAIM_CANDIDATES.format(types=",".join("?" * len(types)))
            jobs: dict[int, Job] = {}
            claimed = []
            for r in ctx.conn.execute(sql, (ctx.now, *types, limit)):
                job = _row_to_job(r)
                jobs[job.id] = job
                claimed.append(job)
            if not claimed:
                return []
            self._load(ctx, {j.parent_id for j in claimed if j.parent_id is not None}, jobs)
            plan = Planner(jobs, now=ctx.now)
            for job in claimed:
                plan.claim(job, owner, lease_seconds)
            plan.finish()
            self._write_plan(ctx, plan)
            return claimed

        return await self._write(op)

    async def apply_changes(self, changes: Sequence[StatusChange]) -> list[ChangeResult]:
        changes = list(changes)

        def op(ctx: TxContext) -> list[ChangeResult]:
            jobs: dict[int, Job] = {}
            self._load(ctx, [c.job_id for c in changes], jobs)
            self._load_ancestors(ctx, jobs)
            plan = Planner(jobs, now=ctx.now)
            results = [plan.change(c) for c in changes]
            plan.finish()
            self._write_plan(ctx, plan)
            return results

        return await self._write(op)

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
            jobs: dict[int, Job] = {}
            self._load(ctx, ids, jobs)
            self._load_ancestors(ctx, jobs)
            plan = Planner(jobs, now=ctx.now)
            for job_id in ids:
                job = jobs[job_id]
                if job.attempts >= job.max_attempts:
                    change = StatusChange(
                        job_id,
                        JobStatus.FAILED,
                        error="lease expired on the last attempt",
                        reason="lease expired",
                    )
                else:
                    change = StatusChange(
                        job_id,
                        JobStatus.PENDING,
                        error="lease expired (worker lost)",
                        reason="lease expired",
                    )
                plan.change(change)
            plan.finish()
            self._write_plan(ctx, plan)
            return ids

        return await self._write(op)

    async def cancel_subtree(self, job_id: int, include_self: bool = True) -> int:
        def op(ctx: TxContext) -> int:
            root = ctx.conn.execute("SELECT id FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if root is None:
                raise JobNotFound(job_id)
            ids = [r[0] for r in ctx.conn.execute(q.ACTIVE_SUBTREE, (job_id,))]
            if not include_self:
                ids = [i for i in ids if i != job_id]
            if not ids:
                return 0
            jobs: dict[int, Job] = {}
            self._load(ctx, ids, jobs)
            self._load_ancestors(ctx, jobs)
            plan = Planner(jobs, now=ctx.now)
            n = 0
            for i in ids:  # parents before children: a parent is cancelled first
                change = StatusChange(i, JobStatus.CANCELLED, reason="cancelled")
                if jobs[i].status in ACTIVE and plan.change(change).ok:
                    n += 1
            plan.finish()
            self._write_plan(ctx, plan)
            return n

        return await self._write(op)

    async def delete_subtree(self, job_id: int) -> int:
        def op(ctx: TxContext) -> int:
            conn = ctx.conn
            jobs: dict[int, Job] = {}
            self._load(ctx, [job_id], jobs)
            if job_id not in jobs:
                raise JobNotFound(job_id)
            job = jobs[job_id]
            ids = [r[0] for r in conn.execute(q.SUBTREE, (job_id,))]
            active = 0
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                active += conn.execute(q.COUNT_ACTIVE_IN.format(ids=marks), chunk).fetchone()[0]
            if active:
                raise JobStateError(
                    f"job {job_id} has {active} pending or running job(s) in its tree;"
                    " cancel it first"
                )
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM job_logs WHERE job_id IN ({marks})", chunk)
                conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
            events = [
                NewEvent(
                    JOB_DELETED, job_id, job.root_id, {"job_id": job_id, "parent_id": job.parent_id}
                )
            ]
            if job.parent_id is not None:
                parent_jobs: dict[int, Job] = {}
                self._load(ctx, [job.parent_id], parent_jobs)
                parent = parent_jobs.get(job.parent_id)
                if parent is not None:
                    parent.children.total -= 1
                    parent.children.add(job.status, -1)
                    plan = Planner(parent_jobs, now=ctx.now)
                    plan.dirty.add(parent.id)
                    plan.touched_parents[parent.id] = None
                    plan.finish()
                    plan.events.insert(0, events[0])
                    self._write_plan(ctx, plan)
                    return len(ids)
            ctx.write_events(events, _dumps)
            return len(ids)

        return await self._write(op)

    async def add_logs(self, entries: Sequence[LogEntry], publish: bool = True) -> None:
        entries = list(entries)
        if not entries:
            return
        for e in entries:
            if e.level not in LOG_LEVELS:
                raise InvalidJobSpec(f"unknown log level {e.level!r}")

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

    async def run_in_transaction(self, fn: Callable[[TxContext], T]) -> T:
        """Run ``fn`` in the writer's transaction (for modules that own extra tables)."""
        return await self._write(fn)

    async def run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with a read connection on the reader pool."""
        return await self._read(fn)

    # ------------------------------------------------------------------ reads
    async def get_job(self, job_id: int) -> Job | None:
        def fn(c: sqlite3.Connection) -> Job | None:
            r = c.execute(q.SELECT_JOBS_BY_IDS.format(ids="?"), (job_id,)).fetchone()
            return _row_to_job(r) if r else None

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
        if query.text:
            where.append("name LIKE ? ESCAPE '\\'")
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
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
            return Page([_row_to_job(r) for r in rows], int(total))

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
            return [LogEntry(r[1], r[4], r[5], r[3], id=r[0], root_id=r[2]) for r in rows]

        return await self._read(fn)

    async def recount(self) -> list[Drift]:
        def fn(c: sqlite3.Connection) -> list[Drift]:
            drift = []
            for r in c.execute(q.RECOUNT):
                stored = dict(zip(q.COUNTER_NAMES, r[1:7], strict=True))
                actual = dict(zip(q.COUNTER_NAMES, r[7:13], strict=True))
                drift.append(Drift(r[0], stored, actual))
            return drift

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
                Event(r[0], r[1], r[2], r[3], _loads(r[4]), r[5])
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

    async def prune_events(self, older_than: float) -> int:
        def op(ctx: TxContext) -> int:
            # keep the newest event so the sequence (and event_bounds) never goes backwards
            cur = ctx.conn.execute(
                "DELETE FROM events WHERE created_at < ? AND seq < (SELECT MAX(seq) FROM events)",
                (older_than,),
            )
            return cur.rowcount

        return await self._write(op)


def _split_sql(sql: str) -> list[str]:
    """Split a migration into statements (ours hold no semicolons inside literals)."""
    out = []
    for part in sql.split(";"):
        lines = [ln for ln in part.splitlines() if not ln.strip().startswith("--")]
        stmt = "\n".join(lines).strip()
        if stmt:
            out.append(stmt)
    return out
