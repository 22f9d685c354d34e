"""A worker's flush that fails (the database briefly unreachable) keeps its outcomes and
log lines and writes them on the next try: a job that ran once is not run again (nor
failed for a lost lease on its last attempt). On both backends."""

from __future__ import annotations

from typing import Any

import pytest

from quaero import App, JobContext, JobStatus
from quaero.errors import StoreError
from quaero.store.base import LogQuery


async def test_a_failed_flush_is_retried_not_dropped(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []

    @app.job("once")
    async def once(ctx: JobContext) -> dict[str, int]:
        runs.append(ctx.id)
        ctx.log("ran")
        return {"n": 1}

    manager = app.manager
    real = manager.apply_and_claim
    failures: list[int] = []

    async def flaky(changes: Any, *args: Any) -> Any:
        if changes and len(failures) < 2:  # the first two flushes with outcomes fail
            failures.append(len(changes))
            raise StoreError("PostgreSQL: connection was closed in the middle of operation")
        return await real(changes, *args)

    monkeypatch.setattr(manager, "apply_and_claim", flaky)
    job = await app.submit("once")
    w = app.worker(concurrency=1, prefetch=0)
    await w.start()
    try:
        done = await app.wait(job.id, timeout=20)
    finally:
        await w.stop()
    assert failures == [1, 1]
    assert done.status is JobStatus.COMPLETED and done.result == {"n": 1}
    assert runs == [job.id] and done.attempts == 1
    lines = [e.message for e in await app.store.read_logs(LogQuery(job.id))]
    assert lines.count("ran") == 1 and lines[-1] == "Status changed: completed"
    assert await app.store.recount() == []
