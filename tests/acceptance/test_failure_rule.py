"""Issue 8's reproduction of the lease-expiry path, with real worker processes on both
backends: a parent with ``max_attempts=1`` spawns 3 children (4 s each) and sleeps; its
worker (``--lease-seconds 2``) is SIGKILLed while the children run; another worker
starts. The parent must end ``failed`` and its children ``cancelled``, none started
again after the parent failed (each ran its first attempt only)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from quaero import App, Settings
from quaero.jobs.models import Job, JobStatus
from quaero.store.base import JobQuery, LogQuery
from tests.conftest import QUAERO, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QUAERO_DB_URL": url,
        "QUAERO_PLUGINS": "tests.support.operate_jobs",
        "QUAERO_WORKER_POLL_INTERVAL": "0.2",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("QUAERO_CONFIG", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [QUAERO, "worker", "--lease-seconds", "2", "--concurrency", "8"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )


async def wait_for(what: str, pred: object, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{log.read_text(errors='replace')[-3000:]}")
        await asyncio.sleep(0.1)


async def test_lease_expiry_on_the_last_attempt_cancels_the_children(
    url: str, tmp_path: Path
) -> None:
    settings = Settings()
    settings.store.url = url
    log = tmp_path / "workers.log"
    procs: list[subprocess.Popen[bytes]] = []
    app = App(settings)
    from tests.support.operate_jobs import register

    register(app)
    try:
        async with app:
            parent = await app.submit("spawn_then_sleep")
            procs.append(worker(url, log))

            async def kids() -> list[Job]:
                page = await app.store.list_jobs(JobQuery(parent_id=parent.id, limit=10))
                return list(page.items)

            async def children_run() -> bool:
                ks = await kids()
                return len(ks) == 3 and all(k.status is JobStatus.RUNNING for k in ks)

            await wait_for("the 3 children to run", children_run, 60, log)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            procs.append(worker(url, log))

            async def parent_done() -> bool:
                job = await app.store.get_job(parent.id)
                return job is not None and job.is_terminal

            await wait_for("the parent to end", parent_done, 60, log)
            # give the new worker time to (wrongly) start a child again
            await asyncio.sleep(3)
            final = await app.store.get_job(parent.id)
            assert final is not None and final.status is JobStatus.FAILED
            assert final.error == "lease expired on the last attempt"
            ks = await kids()
            assert [k.status for k in ks] == [JobStatus.CANCELLED] * 3
            assert [k.attempts for k in ks] == [1, 1, 1]  # none started after
            for k in ks:
                logs = [e.message for e in await app.store.read_logs(LogQuery(k.id))]
                assert logs[-1] == f"Status changed: cancelled (parent {parent.id} failed)"
            assert await app.store.recount() == []
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
