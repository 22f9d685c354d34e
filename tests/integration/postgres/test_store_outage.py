"""A worker while its PostgreSQL database refuses connections: it keeps running, logs the
outage once per loop (not a traceback per try: two worker processes wrote 256 in 25 s
with PostgreSQL stopped), and runs jobs again once the database is back."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from quaero import App, JobStatus, Settings
from tests.integration.store.pgdb import PG_URL

pytestmark = pytest.mark.timeout(120)


async def test_a_worker_logs_an_outage_once_per_loop_and_recovers(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    s = Settings()
    s.store.url = pg_url
    s.worker.poll_interval = 0.02
    s.worker.lease_seconds = 1.0
    s.events.poll_interval = 0.02
    app = App(s)
    dbname = pg_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_URL)
    try:
        async with app:
            w = app.worker(concurrency=2)
            await w.start()
            try:
                await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    dbname,
                )
                async with asyncio.timeout(60):
                    while not any(r.name == "quaero.jobs.worker" for r in caplog.records):
                        await asyncio.sleep(0.02)
                # the outage goes on: ~50 tries of each loop (poll interval 0.02 s); the
                # records below do not grow with its length
                await asyncio.sleep(1.0)
                tracebacks = [
                    r
                    for r in caplog.records
                    if r.exc_info is not None and r.name.startswith("quaero.")
                ]
                # one per failing loop (claim, event feed, registry, reaper), not per try
                assert 1 <= len(tracebacks) <= 6, [r.getMessage() for r in tracebacks]
                await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
                job = await app.submit("noop", {})
                done = await app.wait(job.id, timeout=60)
                assert done.status is JobStatus.COMPLETED
                assert any("claim works again" in r.getMessage() for r in caplog.records)
            finally:
                await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
                await w.stop()
    finally:
        await admin.close()
