"""Several processes on one SQLite file wake each other (no waiting for the poll).

Both processes poll every 60 s here, so only the wake-up sockets can make the test pass
in time: a job submitted in this process must wake the idle ``quaero worker`` process,
and its commits must reach this process's event bus promptly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from quaero import App, Settings
from quaero.events.types import JOB_STATUS_CHANGE, Event
from quaero.store.sqlite_wake import wake_dir

pytestmark = pytest.mark.timeout(120)

QUAERO = str(Path(sys.executable).with_name("quaero"))


async def test_commits_in_a_worker_process_wake_this_process_and_back(tmp_path: Path) -> None:
    db = tmp_path / "quaero.db"
    env = {
        **os.environ,
        "QUAERO_DB_URL": f"sqlite:///{db}",
        "QUAERO_WORKER_POLL_INTERVAL": "60",
        "QUAERO_EVENTS_POLL_INTERVAL": "60",
    }
    env.pop("QUAERO_CONFIG", None)
    settings = Settings()
    settings.store.url = f"sqlite:///{db}"
    settings.events.poll_interval = 60
    log = (tmp_path / "worker.log").open("wb")
    async with App(settings) as app:
        worker = subprocess.Popen(
            [QUAERO, "worker", "--concurrency", "4"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            sock_prefix = f"{worker.pid}-"
            async with asyncio.timeout(60):  # the worker process is up and listening
                while not any(
                    p.name.startswith(sock_prefix) for p in wake_dir(str(db)).glob("*.sock")
                ):
                    assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                    await asyncio.sleep(0.05)
            # let its first claim (at start, nothing to do) pass: from now on it is idle
            await asyncio.sleep(0.5)
            seen: list[Event] = []
            done = asyncio.Event()
            job = await app.submit("fanout", {"children": 20})

            def on_event(e: Event) -> None:
                seen.append(e)
                if (
                    e.type == JOB_STATUS_CHANGE
                    and e.job_id == job.id
                    and e.payload.get("status") == "completed"
                ):
                    done.set()

            app.bus.subscribe(on_event, after_seq=0)
            # far below the 60 s poll: only wake-ups in both directions get here in time
            await asyncio.wait_for(done.wait(), 20)
            seqs = [e.seq for e in seen]
            assert seqs == list(range(1, len(seqs) + 1))  # in order, none missed
            completed = {
                e.job_id
                for e in seen
                if e.type == JOB_STATUS_CHANGE and e.payload.get("status") == "completed"
            }
            assert len(completed) == 21
            wake = app.store.wake_sockets  # type: ignore[attr-defined]
            assert wake is not None and wake.received > 0 and wake.sent > 0
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            log.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
    assert not list(wake_dir(str(db)).glob("*.sock"))  # both removed their socket
