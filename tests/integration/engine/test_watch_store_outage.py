"""The CLI's live watch (``run --wait``, ``crawl``) rides out store reads that fail for a
while (PostgreSQL restarting, a locked SQLite file): it keeps watching, logs the streak
once, and returns the job when it ends. Before, the first failed read ended the watch,
and ``crawl --resume`` printed the summary of a crawl still running."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from quaero import App, JobStatus, Settings
from quaero.cli.live import watch_job
from quaero.errors import StoreError


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    s = Settings()
    s.store.url = f"sqlite:///{tmp_path}/q.db"
    s.worker.poll_interval = 0.05
    a = App(s)
    async with a:
        yield a


async def test_watch_survives_failing_reads(app: App, caplog: pytest.LogCaptureFixture) -> None:
    job = await app.submit("fanout", {"children": 20})
    real = app.store.get_job
    failures = 0

    async def flaky_get_job(job_id: int) -> Any:
        nonlocal failures
        if failures < 5:  # the store is away for the first reads
            failures += 1
            raise StoreError("the store is restarting")
        return await real(job_id)

    w = app.worker(concurrency=4)
    await w.start()
    try:
        app.store.get_job = flaky_get_job  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="quaero.cli.live"):
            final = await watch_job(app, job.id, show=False, timeout=60)
    finally:
        app.store.get_job = real  # type: ignore[method-assign]
        await w.stop()
    assert final.status is JobStatus.COMPLETED and final.children.completed == 20
    assert failures == 5
    records = [r for r in caplog.records if r.name == "quaero.cli.live"]
    assert [r.levelname for r in records] == ["ERROR", "WARNING"]  # once, then "works again"
