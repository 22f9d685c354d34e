"""The writer thread's batches: joined operations run as one call, and a batch that
raises is rerun one operation at a time so only the bad one is refused."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quaero.store.sqlite_writer import Batchable, TxContext, Writer


@dataclass(eq=False)
class Insert(Batchable):
    value: int
    calls: list[int]

    def joins(self, other: object) -> bool:
        return isinstance(other, Insert)

    @classmethod
    def run_batch(cls, ctx: TxContext, items: list[Any]) -> list[Any]:
        items[0].calls.append(len(items))
        for it in items:
            if it.value < 0:
                raise ValueError(f"bad value {it.value}")
        ctx.conn.executemany("INSERT INTO t (v) VALUES (?)", [(it.value,) for it in items])
        return [it.value * 10 for it in items]


async def _run(tmp_path: Path, values: list[int]) -> tuple[list[Any], list[int], list[int]]:
    path = tmp_path / "w.db"
    sqlite3.connect(path).execute("CREATE TABLE t (v INTEGER)").connection.close()

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    writer = Writer(connect, lambda _events: None)
    writer.start()
    started, release = threading.Event(), threading.Event()

    def hold(_ctx: TxContext) -> None:
        started.set()
        assert release.wait(10)

    calls: list[int] = []
    try:
        holder = asyncio.ensure_future(writer.submit(hold))
        assert await asyncio.to_thread(started.wait, 10)
        tasks = [asyncio.ensure_future(writer.submit(Insert(v, calls))) for v in values]
        await asyncio.sleep(0.05)
        release.set()
        await holder
        out = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await asyncio.to_thread(writer.stop)
    rows = [r[0] for r in sqlite3.connect(path).execute("SELECT v FROM t ORDER BY rowid")]
    return out, rows, calls


async def test_joined_operations_run_as_one_call(tmp_path: Path) -> None:
    out, rows, calls = await _run(tmp_path, [1, 2, 3])
    assert out == [10, 20, 30]
    assert rows == [1, 2, 3]
    assert calls == [3]


async def test_a_batch_that_raises_is_rerun_one_by_one(tmp_path: Path) -> None:
    out, rows, calls = await _run(tmp_path, [1, -2, 3])
    assert out[0] == 10 and out[2] == 30
    assert isinstance(out[1], ValueError)
    assert rows == [1, 3]  # the refused one left no trace
    assert calls == [3, 1, 1, 1]


async def test_checkpoints_run_off_the_writer_thread(tmp_path: Path) -> None:
    """Commits signal the checkpoint thread, which copies the WAL back into the
    database (so the WAL restarts from its beginning); an idle store does nothing."""
    import os

    from quaero.jobs.models import NewJob
    from quaero.store.sqlite import SqliteStore

    store = SqliteStore(f"sqlite:///{tmp_path}/c.db")
    await store.open()
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        await store.create_jobs([NewJob("noop") for _ in range(200)])
        deadline = asyncio.get_running_loop().time() + 10
        while checkpointer.runs == 0:
            assert asyncio.get_running_loop().time() < deadline, "no checkpoint ran"
            await asyncio.sleep(0.02)
        runs = checkpointer.runs
        size = os.path.getsize(f"{tmp_path}/c.db-wal")
        await store.create_jobs([NewJob("noop")])  # a small commit after a full checkpoint
        assert os.path.getsize(f"{tmp_path}/c.db-wal") == size  # reuses the WAL's start
        while checkpointer.runs == runs:  # one for that commit
            assert asyncio.get_running_loop().time() < deadline + 10, "no second checkpoint"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        assert checkpointer.runs == runs + 1  # and none while idle
    finally:
        await store.close()
    assert store._checkpointer is None
