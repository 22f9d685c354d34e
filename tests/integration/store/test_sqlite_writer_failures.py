"""SQLite: the writer thread outlives a transaction that SQLite rolls back as a whole
(a full disk, an I/O error). Every operation of that group fails with the error, later
ones run as usual; no caller waits forever on a writer that is gone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from quaero.errors import StoreError
from quaero.jobs.models import NewJob
from quaero.store.sqlite import SqliteStore
from quaero.store.sqlite_writer import TxContext

from ...conftest import close_or_fail


def _cap_pages(extra: int | None) -> Callable[[TxContext], None]:
    """The writer's database may grow by ``extra`` pages more (None: no cap)."""

    def op(ctx: TxContext) -> None:
        pages = ctx.conn.execute("PRAGMA page_count").fetchone()[0]
        limit = 1 << 30 if extra is None else pages + extra
        ctx.conn.execute(f"PRAGMA max_page_count = {limit}")

    return op


async def test_a_full_disk_fails_the_writes_and_the_writer_goes_on(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/q.db")
    await store.open()
    try:
        await store.create_jobs([NewJob("t", name="before")])
        await store.run_in_transaction(_cap_pages(2))  # the disk is all but full
        big = {"blob": "x" * 200_000}
        failures = 0
        async with asyncio.timeout(20):  # the old writer thread died here: a hang
            for _ in range(5):
                try:
                    await store.create_jobs([NewJob("t", big) for _ in range(5)])
                except StoreError as exc:  # one clear error (HTTP 503), not sqlite3's
                    assert "full" in str(exc) and isinstance(exc.__cause__, sqlite3.Error)
                    failures += 1
        assert failures == 5
        await store.run_in_transaction(_cap_pages(None))  # space again
        async with asyncio.timeout(20):
            made = await store.create_jobs([NewJob("t", name="after")])
        assert made[0].name == "after"
        assert await store.recount() == []
    finally:
        await close_or_fail(store.close, "the sqlite store")
