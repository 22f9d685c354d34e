"""One writer thread per SQLite store that commits queued operations in groups.

SQLite allows one writer at a time, and a commit costs far more than the statements in
it. So every write operation is queued to a single thread, which runs all operations that
are waiting in ONE transaction (each inside its own savepoint, so a refused operation
leaves no trace) and commits once. Callers await their own result; events written by the
group are handed to the store's ``on_commit`` on the event loop, in sequence order,
before any caller is resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..errors import StoreError
from ..events.types import Event, NewEvent
from ..jobs.models import iso
from .event_codec import encode_payload

T = TypeVar("T")

#: most operations run in one transaction; bounds the latency of the first one
MAX_GROUP = 256


@dataclass
class TxContext:
    """What an operation sees of its transaction: the connection, the time, id allocation."""

    conn: sqlite3.Connection
    now: float
    _next_seq: int | None = None
    _next_job_id: int | None = None
    events: list[Event] = field(default_factory=list)

    def _sequence(self, table: str) -> int:
        row = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).fetchone()
        return int(row[0]) if row else 0

    def allocate_job_ids(self, n: int) -> int:
        """First of ``n`` fresh job ids (AUTOINCREMENT: never reused, even after deletes)."""
        if self._next_job_id is None:
            self._next_job_id = self._sequence("jobs") + 1
        first = self._next_job_id
        self._next_job_id += n
        return first

    def release_job_ids(self, n: int) -> None:
        """Give back the last ``n`` ids of the latest allocation (they were not used)."""
        assert self._next_job_id is not None
        self._next_job_id -= n

    def reserve_log_ids(self, n: int) -> int:
        """First of ``n`` fresh job log ids, in commit order (AUTOINCREMENT's sequence, so
        rows inserted without an id continue after them)."""
        row = self.conn.execute(
            "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'job_logs' RETURNING seq", (n,)
        ).fetchone()
        if row is None:  # no log yet (the migration normally creates the row)
            last = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM job_logs").fetchone()[0]
            self.conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('job_logs', ?)", (last + n,)
            )
            return int(last) + 1
        return int(row[0]) - n + 1

    def write_events(self, new: list[NewEvent], dumps: Callable[[Any], str]) -> list[Event]:
        """Insert events with explicit, gap-free sequence numbers."""
        if not new:
            return []
        if self._next_seq is None:
            self._next_seq = self._sequence("events") + 1
        seq = self._next_seq
        out = []
        rows = []
        ts = iso(self.now)
        for e in new:
            out.append(Event(seq, e.type, e.job_id, e.root_id, e.payload, self.now))
            stored = encode_payload(e.type, e.job_id, e.payload, ts, dumps)
            rows.append((seq, e.type, e.job_id, e.root_id, stored, self.now))
            seq += 1
        self.conn.executemany(
            "INSERT INTO events (seq, type, job_id, root_id, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._next_seq = seq
        self.events.extend(out)
        return out

    def mark(self) -> tuple[int | None, int | None, int]:
        return (self._next_seq, self._next_job_id, len(self.events))

    def rollback_to(self, mark: tuple[int | None, int | None, int]) -> None:
        self._next_seq, self._next_job_id, n = mark
        del self.events[n:]


class Batchable:
    """An operation the writer may run together with the operations queued right after
    it that it :meth:`joins`, as ONE call of :meth:`run_batch` (for instance a worker's
    completions and a claim: one plan, one write of their parent, one progress event).
    Each operation still gets its own result, in order."""

    def joins(self, other: object) -> bool:
        """Whether ``other`` may run in the same :meth:`run_batch` call as ``self``."""
        raise NotImplementedError

    @classmethod
    def run_batch(cls, ctx: TxContext, items: list[Any]) -> list[Any]:
        """The results of ``items`` (same class, joined), in order."""
        raise NotImplementedError

    def __call__(self, ctx: TxContext) -> Any:
        return self.run_batch(ctx, [self])[0]


@dataclass
class _Op(Generic[T]):
    fn: Callable[[TxContext], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


class Writer:
    """The writer thread. ``submit`` is awaited from the event loop."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        on_commit: Callable[[list[Event]], None],
        busy_timeout: float = 30.0,
        after_commit: Callable[[], None] | None = None,
        committed: Callable[[], None] | None = None,
    ) -> None:
        """``after_commit`` runs on this thread right after each commit that wrote events
        (the cross-process wake-up: sooner than a hop through the event loop)."""
        self._connect = connect
        self._on_commit = on_commit
        self._after_commit = after_commit
        #: runs on this thread after every commit (the checkpointer's signal)
        self._committed = committed
        self._busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[_Op[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="quaero-sqlite-writer", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        #: transactions and operations committed (for metrics and benchmarks)
        self.commits = 0
        self.operations = 0
        #: the longest transaction body (BEGIN IMMEDIATE to COMMIT), in seconds, and the
        #: longest COMMIT (which may include the WAL checkpoint SQLite runs after a commit,
        #: once the write lock is released)
        self.longest_hold = 0.0
        self.longest_commit = 0.0
        #: when set (benchmarks), thread CPU seconds by part: each operation body by its
        #: function's name, "begin", "commit" and "deliver" (the hand-off to the loop)
        self.profile: dict[str, float] | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    async def submit(self, fn: Callable[[TxContext], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Op(fn, loop, fut))
        return await fut

    # ------------------------------------------------------------------ thread side
    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                ops: list[_Op[Any]] = [first]
                stop = False
                while len(ops) < MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    ops.append(nxt)
                try:
                    self._run_group(conn, ops)
                except Exception as exc:
                    # the thread must outlive any failure: dead, it would leave every
                    # caller (this group's and all later ones) waiting forever
                    _abandon(conn, ops, exc)
                if stop:
                    return
        finally:
            conn.close()

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write lock in short steps.

        SQLite's own busy handler sleeps 1, 2, 5, 10... ms; two worker processes taking
        turns at sub-millisecond transactions would spend most of their time asleep.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.0001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.004)

    def _run_group(self, conn: sqlite3.Connection, ops: list[_Op[Any]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        prof = self.profile
        tick = time.thread_time() if prof is not None else 0.0
        try:
            self._begin(conn)
        except sqlite3.Error as exc:
            for op in ops:
                _resolve(op, False, exc)
            return
        held = time.perf_counter()
        if prof is not None:
            tick = _add(prof, "begin", tick)
        ctx = TxContext(conn, time.time())
        i = 0
        while i < len(ops):
            fn = ops[i].fn
            j = i + 1
            if isinstance(fn, Batchable):
                while j < len(ops) and fn.joins(ops[j].fn):
                    j += 1
            # one operation, or a batch that failed: each on its own
            if j - i == 1 or not _run_batch(ctx, [op.fn for op in ops[i:j]], outcomes):
                for op in ops[i:j]:
                    _run_one(ctx, op.fn, outcomes)
            if prof is not None:
                tick = _add(prof, _op_name(fn) if j - i == 1 else f"{_op_name(fn)} (batched)", tick)
            i = j
        committing = time.perf_counter()
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for op in ops:
                _resolve(op, False, exc)
            return
        done = time.perf_counter()
        self.longest_hold = max(self.longest_hold, committing - held)
        self.longest_commit = max(self.longest_commit, done - committing)
        self.commits += 1
        if self._committed is not None:
            self._committed()
        self.operations += len(ops)
        if prof is not None:
            tick = _add(prof, "commit", tick)
        if ctx.events and self._after_commit is not None:
            self._after_commit()
        _deliver(ops, outcomes, ctx.events, self._on_commit)
        if prof is not None:
            _add(prof, "deliver", tick)


def _run_one(ctx: TxContext, fn: Callable[[TxContext], Any], out: list[tuple[bool, Any]]) -> None:
    """Run one operation in its own savepoint: a refused one leaves no trace."""
    mark = ctx.mark()
    conn = ctx.conn
    conn.execute("SAVEPOINT op")
    try:
        value = fn(ctx)
    except BaseException as exc:
        if not conn.in_transaction:
            raise  # SQLite rolled back the whole transaction: the group fails
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        ctx.rollback_to(mark)
        out.append((False, exc))
    else:
        conn.execute("RELEASE op")
        out.append((True, value))


def _run_batch(ctx: TxContext, fns: list[Any], out: list[tuple[bool, Any]]) -> bool:
    """Run operations that join into one call (:class:`Batchable`) in one savepoint.
    False (and no trace) when the call raised: the caller then runs them one by one, so
    one bad operation is refused alone."""
    mark = ctx.mark()
    conn = ctx.conn
    conn.execute("SAVEPOINT op")
    try:
        values = type(fns[0]).run_batch(ctx, fns)
    except BaseException:
        if not conn.in_transaction:
            raise  # SQLite rolled back the whole transaction: the group fails
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        ctx.rollback_to(mark)
        return False
    conn.execute("RELEASE op")
    out.extend((True, v) for v in values)
    return True


def _abandon(conn: sqlite3.Connection, ops: list[_Op[Any]], exc: Exception) -> None:
    """A group failed outside any one operation's savepoint (SQLite rolled back the
    whole transaction on a full disk or an I/O error, say): nothing of it is committed,
    so every operation in it fails with ``exc``."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
    for op in ops:
        _resolve(op, False, exc)


def _op_name(fn: Callable[..., Any]) -> str:
    """``claim_jobs`` for ``SqliteStore.claim_jobs.<locals>.op``."""
    if isinstance(fn, Batchable):
        return type(fn).__name__
    parts = fn.__qualname__.split(".")
    return parts[-3] if len(parts) >= 3 and parts[-2] == "<locals>" else fn.__qualname__


def _add(prof: dict[str, float], part: str, since: float) -> float:
    now = time.thread_time()
    prof[part] = prof.get(part, 0.0) + now - since
    return now


def _deliver(
    ops: list[_Op[Any]],
    outcomes: list[tuple[bool, Any]],
    events: list[Event],
    on_commit: Callable[[list[Event]], None],
) -> None:
    """Hand a group's events and results to the event loop in one wake-up (one syscall)."""

    def done() -> None:
        if events:
            # before any caller resumes, so listeners see events in commit order
            on_commit(events)
        for op, (ok, value) in zip(ops, outcomes, strict=True):
            if op.future.done():
                continue
            if ok:
                op.future.set_result(value)
            else:
                op.future.set_exception(_as_store_error(value))

    ops[0].loop.call_soon_threadsafe(done)


def _as_store_error(exc: BaseException) -> BaseException:
    """SQLite's own failures (a full disk, an I/O error, a database locked past the busy
    timeout) reach callers as :class:`StoreError` with SQLite's message (HTTP 503, one
    CLI line), not as ``sqlite3`` exceptions; an operation's own errors pass unchanged."""
    if isinstance(exc, sqlite3.Error):
        err = StoreError(f"the SQLite store failed: {exc}")
        err.__cause__ = exc
        return err
    return exc


def _resolve(op: _Op[Any], ok: bool, value: Any) -> None:
    _deliver([op], [(ok, value)], [], lambda _e: None)
