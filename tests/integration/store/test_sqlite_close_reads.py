"""SQLite: reads under way or queued when the store closes end with an error; none ends
as if its task had been cancelled (which would stop the caller's loop for good)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from quaero.errors import StoreError
from quaero.store.sqlite import SqliteStore

_LONG = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"


async def test_reads_in_flight_at_close_fail_with_an_error_not_a_cancel(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/q.db")
    await store.open()
    reads = [
        asyncio.ensure_future(store.run_read(lambda c: c.execute(_LONG).fetchone()))
        for _ in range(6)  # more than the reader threads: some wait in the queue
    ]
    await asyncio.sleep(0.2)  # the first ones run
    async with asyncio.timeout(20):
        await store.close()
        outcomes = await asyncio.gather(*reads, return_exceptions=True)
    for o in outcomes:
        assert isinstance(o, StoreError | sqlite3.Error), repr(o)
    with pytest.raises(StoreError):
        await store.run_read(lambda c: c.execute("SELECT 1").fetchone())
