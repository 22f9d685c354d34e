"""``jobs logs --follow`` keeps each job's lines in order when a line shows late.

On PostgreSQL a log line takes its id when its transaction writes it and shows when that
transaction commits, so a job's first line (a long transaction) can show after lines of
other jobs with higher ids were read. The follower must still print it before that job's
later lines. The drain used to read on from the last line of a full batch in a new
snapshot: when the late line and the job's next line both committed between two batch
reads, the next line came out in the second batch and the late one only in the next
cycle (seen once in about five CI runs of the multi-worker follow test). Here the commits
between the reads are made deterministic by running them inside the first read.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from quaero import App, NewJob, Settings
from quaero.cli import follow
from quaero.store.base import LogEntry

pytestmark = pytest.mark.postgres


@pytest.fixture
async def app(pg_url: str) -> AsyncIterator[App]:
    settings = Settings()
    settings.store.url = pg_url
    a = App(settings)

    @a.job("noop")
    async def noop(ctx: Any) -> None:
        return None

    async with a:
        yield a


def line(job_id: int, message: str) -> LogEntry:
    return LogEntry(job_id, "info", message, time.time())


async def test_a_late_line_prints_before_its_jobs_next_line(
    app: App, pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(follow, "_BATCH", 5)
    root = await app.submit("noop", {})
    spawned = await app.store.spawn_children(
        [NewJob("noop", parent_id=root.id), NewJob("noop", parent_id=root.id)]
    )
    a, b = (j.id for j in spawned.created)
    # a transaction takes the lowest id for a's first line and stays open
    conn = await asyncpg.connect(pg_url)
    tx = conn.transaction()
    await tx.start()
    await conn.execute(
        "INSERT INTO job_logs (job_id, root_id, ts, level, message)"
        " VALUES ($1, $2, $3, 'info', 'a: first')",
        a,
        root.id,
        time.time(),
    )
    committed = False
    try:
        # more lines of b than one batch commit meanwhile, with higher ids
        await app.store.add_logs([line(b, f"b: {i}") for i in range(12)])
        read = app.store.read_logs
        calls = 0

        async def read_then_commit(query: Any) -> list[LogEntry]:
            nonlocal calls, committed
            calls += 1
            got = await read(query)
            if calls == 1:  # right after the first read: a's line shows, a's next commits
                await tx.commit()
                committed = True
                await app.store.add_logs([line(a, "a: second")])
            return got

        monkeypatch.setattr(app.store, "read_logs", read_then_commit)
        out = follow._Printed(aggregated=True, as_json=True, settle=True)
        await follow._drain(app, root.id, None, True, out)
        await follow._drain(app, root.id, None, True, out)  # the next cycle
    finally:
        if not committed:
            await tx.rollback()
        await conn.close()
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    mine = [p["message"] for p in printed if p["job_id"] == a]
    assert mine == ["a: first", "a: second"]
    assert sorted(p["message"] for p in printed if p["job_id"] == b) == sorted(
        f"b: {i}" for i in range(12)
    )
    assert len(printed) == len({p["id"] for p in printed})  # each line once
