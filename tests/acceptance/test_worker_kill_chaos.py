"""Real worker processes that claim ahead (``--prefetch``) are SIGKILLed again and again in
the middle of a fan-out whose children fail and retry, while some children are cancelled:
on both backends every job ends, the counters are exact (``quaero db check``), jobs a
killed worker held (running or claimed ahead) run again once their lease expires, and
every job's log has its status lines in order."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from quaero import App, Settings
from quaero.jobs.models import JobStatus
from quaero.store.base import JobQuery, LogQuery
from tests.conftest import QUAERO, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHILDREN = 300
PREFETCH_2 = ("--prefetch", "2")


def worker(url: str, log: Path, prefetch: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QUAERO_DB_URL": url,
        "QUAERO_WORKER_POLL_INTERVAL": "0.2",
        "QUAERO_WORKER_BACKOFF_BASE": "0.01",
        "QUAERO_WORKER_BACKOFF_MAX": "0.05",
    }
    env.pop("QUAERO_CONFIG", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                QUAERO,
                "worker",
                "--lease-seconds",
                "2",
                "--concurrency",
                "4",
                "--prefetch",
                prefetch,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )


async def test_sigkilled_prefetching_workers_lose_nothing(url: str, tmp_path: Path) -> None:
    settings = Settings()
    settings.store.url = url
    log = tmp_path / "workers.log"
    procs: list[subprocess.Popen[bytes]] = []
    app = App(settings)
    try:
        async with app:
            root = await app.submit(
                "fanout",
                {
                    "children": CHILDREN,
                    "child_config": {"sleep_ms": 3, "fail_rate": 0.2},
                    "child_max_attempts": 4,
                },
            )
            procs += [worker(url, log, "4"), worker(url, log, "auto")]

            async def finished() -> int:
                job = await app.store.get_job(root.id)
                assert job is not None
                return job.children.total - job.children.active if job.children.total else 0

            deadline = time.monotonic() + 150
            cancelled = False
            for kill_at, prefetch in ((40, "4"), (110, "auto"), (180, "8")):
                while await finished() < kill_at:
                    assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
                    await asyncio.sleep(0.02)
                victim = procs.pop(0)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                if not cancelled:  # cancel some pending children while leases are lost
                    page = await app.store.list_jobs(
                        JobQuery(parent_id=root.id, statuses=[JobStatus.PENDING], limit=5)
                    )
                    await app.store.cancel_jobs([j.id for j in page.items])
                    cancelled = True
                procs.append(worker(url, log, prefetch))
            done = await app.wait(root.id, timeout=max(1.0, deadline - time.monotonic()))
            assert done.is_terminal, log.read_text(errors="replace")[-3000:]
            c = done.children
            assert c.total == CHILDREN and c.active == 0
            assert c.completed + c.failed + c.cancelled == CHILDREN and c.cancelled >= 1
            assert await app.store.recount() == []
            check = subprocess.run(
                [QUAERO, "--db", url, "db", "check"], capture_output=True, text=True, timeout=60
            )
            assert check.returncode == 0, check.stdout + check.stderr
            page = await app.store.list_jobs(JobQuery(parent_id=root.id, limit=CHILDREN))
            for kid in page.items:
                assert kid.is_terminal and kid.attempts <= 4
                lines = [e.message for e in await app.store.read_logs(LogQuery(kid.id))]
                runs = [m for m in lines if m == "Status changed: running"]
                if kid.attempts:
                    # every attempt started with its own line, the last line is the end
                    assert len(runs) == kid.attempts, (kid.id, lines)
                    assert lines.index("Status changed: running") < len(lines) - 1
                assert lines[-1].startswith(f"Status changed: {kid.status.value}"), lines
                logs = await app.store.read_logs(LogQuery(kid.id))
                assert [e.id for e in logs] == sorted(e.id for e in logs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


async def test_follow_aggregated_prints_every_line_of_a_tree_run_by_many_workers(
    url: str, tmp_path: Path
) -> None:
    """``jobs logs --follow --aggregated`` while three worker processes commit the
    children's lines concurrently: it prints every line of the tree's log once (on
    PostgreSQL lines took their ids before concurrent commits, so a plain cursor missed
    some), and stops only once the root's own final line is out."""
    settings = Settings()
    settings.store.url = url
    log = tmp_path / "workers.log"
    procs: list[subprocess.Popen[bytes]] = []
    app = App(settings)
    follow = None
    try:
        async with app:
            root = await app.submit(
                "fanout",
                {"children": CHILDREN, "child_config": {"sleep_ms": 2, "fail_rate": 0.1}},
            )
            cmd = ["jobs", "logs", str(root.id), "-f", "-a", "--json", "--limit", "100000"]
            follow = subprocess.Popen(
                [QUAERO, "--db", url, *cmd],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs += [worker(url, log, p) for p in ("0", "4", "auto")]
            out, err = await asyncio.to_thread(follow.communicate, timeout=150)
            assert follow.returncode == 0, err
            printed = [json.loads(line) for line in out.splitlines()]
            tree = await app.store.read_logs(LogQuery(root.id, aggregated=True, limit=100_000))
            want = [e.to_dict() for e in tree]
            missing = [w for w in want if w not in printed]
            assert not missing, (len(want), [(m["id"], m["job_id"], m["message"]) for m in missing])
            # each line once; a line may show after lines with higher ids (another
            # process's commit), but each job's own lines keep their order
            assert len(printed) == len(want)
            for job_id in {w["job_id"] for w in want}:
                mine = [p for p in printed if p["job_id"] == job_id]
                assert mine == [w for w in want if w["job_id"] == job_id]
    finally:
        if follow is not None and follow.poll() is None:
            follow.kill()
            follow.wait()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.mark.xfail(
    strict=True,
    reason="known: a claimed-ahead job is leased and counts an attempt when claimed, so a "
    "killed worker's never-started jobs on their last attempt fail on lease expiry",
)
async def test_never_started_claimed_ahead_jobs_of_a_killed_worker_run_again(
    url: str, tmp_path: Path
) -> None:
    settings = Settings()
    settings.store.url = url
    log = tmp_path / "workers.log"
    app = App(settings)
    proc = None
    try:
        async with app:
            root = await app.submit(
                "fanout",
                {"children": 3, "child_config": {"sleep_ms": 60000}, "child_max_attempts": 1},
            )
            env = {**os.environ, "QUAERO_DB_URL": url, "QUAERO_WORKER_POLL_INTERVAL": "0.2"}
            env.pop("QUAERO_CONFIG", None)
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [QUAERO, "worker", "--lease-seconds", "1", "--concurrency", "1", *PREFETCH_2],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=ROOT,
                )

            async def all_leased() -> bool:
                job = await app.store.get_job(root.id)
                return job is not None and job.children.running == 3

            deadline = time.monotonic() + 60
            while not await all_leased():  # 1 runs, 2 wait claimed ahead
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            while True:  # the sweeper's pass once the leases expired
                await app.store.requeue_expired()
                job = await app.store.get_job(root.id)
                assert job is not None and time.monotonic() < deadline
                if job.children.running == 0:
                    break
                await asyncio.sleep(0.2)
            page = await app.store.list_jobs(JobQuery(parent_id=root.id, limit=10))
            statuses = sorted(k.status.value for k in page.items)
            # the one that ran fails (its only attempt was lost); the two that never
            # started must be pending again
            assert statuses == ["failed", "pending", "pending"], statuses
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
