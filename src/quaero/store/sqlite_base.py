"""Shared plumbing of the SQLite backend: connections, the writer thread, migrations,
row decoding."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ..errors import StoreError
from ..events.types import Event
from ..jobs.models import Job
from ..shutdown import CLOSE_TIMEOUT, bounded
from .base import (
    Store,
)
from .migrations import load_migrations
from .rows import dumps_json, job_from_row
from .sqlite_checkpoint import Checkpointer
from .sqlite_wake import WakeSockets, wake_dir
from .sqlite_writer import TxContext, Writer

__all__ = ["SqliteBase"]

T = TypeVar("T")
log = logging.getLogger(__name__)
_CHUNK = 500
#: the writer's own checkpoint threshold in pages (~160 MB of WAL) when the checkpoint
#: thread runs (sqlite_checkpoint.py): reached only if that thread falls behind
WRITER_AUTOCHECKPOINT = 40_000


_dumps = dumps_json


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
    return job_from_row(r, _loads if full else None)


def _chunks(ids: Sequence[T], n: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


class SqliteBase(Store):
    """Connections, the writer thread, migrations; the operations live in subclasses."""

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
        self._wake: WakeSockets | None = None
        self._checkpointer: Checkpointer | None = None

    # ------------------------------------------------------------------ connections
    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        # the writer waits for other processes' locks itself (Writer._begin); a busy
        # handler here would only add sleeps
        conn.execute("PRAGMA busy_timeout = 0")
        if self._checkpointer is not None:  # checkpoints run there; this is a safety net
            conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}")
        return conn

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
        # fewer, larger checkpoints (each fsyncs): ~32 MB of WAL between them
        conn.execute("PRAGMA wal_autocheckpoint = 8000")
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
        try:
            return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            # nobody cancelled this task: close() dropped the queued read. A bare
            # CancelledError would end the caller's loop as if it had been cancelled
            raise StoreError("the store closed before this read ran") from None

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
            # the store's own directory is made (./data for the default store), not a
            # whole path: a mistyped --db names a directory that is not there, and gets
            # an error, not a new empty store
            parent = Path(self.path).parent
            if not parent.parent.is_dir():
                raise StoreError(
                    f"cannot create SQLite database {self.path}: directory {parent.parent}"
                    " does not exist"
                )
            try:
                parent.mkdir(exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create directory {parent}: {exc.strerror}") from exc
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                # a new database: free pages can go back to the file system (retention's
                # pruner runs incremental vacuum steps); an older one turns this on with
                # `quaero db vacuum` (auto_vacuum only changes with a VACUUM)
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use SQLite database {self.path}: {exc}") from exc
        finally:
            conn.close()
        notify = committed = None
        if self.path != ":memory:" and not self.path.startswith("file:"):  # a file
            self._wake = WakeSockets(wake_dir(self.path), self.on_wake)
            if self._wake.open():
                notify = self._wake.notify
            self._checkpointer = Checkpointer(self._connect)
            self._checkpointer.start()
            committed = self._checkpointer.committed
        self._writer = Writer(
            self._connect_writer, self._publish, self.busy_timeout_ms / 1000, notify, committed
        )
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
        """Commit what is queued, then close; every step is bounded (a stuck thread is
        logged and left behind rather than hanging the caller)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            bound = self.busy_timeout_ms / 1000 + CLOSE_TIMEOUT
            await bounded(asyncio.to_thread(writer.stop), bound, "stopping the SQLite writer")
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            if not await asyncio.to_thread(checkpointer.stop, CLOSE_TIMEOUT):
                log.warning("the SQLite checkpoint thread did not stop; left behind")
        readers_done = True
        if self._wake is not None:
            self._wake.close()
            self._wake = None
        if self._readers is not None:
            readers, self._readers = self._readers, None
            readers.shutdown(wait=False, cancel_futures=True)
            stopping = asyncio.ensure_future(asyncio.to_thread(readers.shutdown, True))
            deadline = time.monotonic() + CLOSE_TIMEOUT
            # interrupted until the threads are done, not once: sqlite3_interrupt only
            # ends statements running at that moment, and a read a thread had taken off
            # the queue may start right after (a long one would then run unbounded)
            while not stopping.done() and time.monotonic() < deadline:
                with self._lock:
                    for conn in self._reader_conns:
                        conn.interrupt()
                await asyncio.wait({stopping}, timeout=0.05)
            readers_done = stopping.done()
            if not readers_done:
                log.warning("SQLite readers did not stop within %.1fs", CLOSE_TIMEOUT)
        with self._lock:
            if readers_done:  # never close a connection a thread may still use
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

    async def run_in_transaction(self, fn: Callable[[TxContext], T]) -> T:
        """Run ``fn`` in the writer's transaction (for modules that own extra tables)."""
        return await self._write(fn)

    async def run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with a read connection on the reader pool."""
        return await self._read(fn)

    @property
    def wake_sockets(self) -> WakeSockets | None:
        """This process's cross-process wake-up sockets (None when not available)."""
        w = self._wake
        return w if w is not None and w._send is not None else None

    @property
    def writer_stats(self) -> tuple[int, int]:
        """(transactions committed, operations committed) by this process."""
        w = self._writer
        return (w.commits, w.operations) if w else (0, 0)

    @property
    def longest_write_lock(self) -> tuple[float, float]:
        """Seconds (benchmarks): this process's longest transaction body under the write
        lock (BEGIN IMMEDIATE to COMMIT), and its longest COMMIT (which can include the
        automatic WAL checkpoint, run after the lock is released)."""
        w = self._writer
        return (w.longest_hold, w.longest_commit) if w else (0.0, 0.0)

    def reset_longest_write_lock(self) -> None:
        if self._writer:
            self._writer.longest_hold = self._writer.longest_commit = 0.0


def _split_sql(sql: str) -> list[str]:
    """Split a migration into complete statements (trigger bodies hold semicolons)."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip().rstrip(";"))
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
