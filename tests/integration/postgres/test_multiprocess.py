"""Many processes on one PostgreSQL database: two ``quaero serve --no-workers`` web
processes, three ``quaero worker`` processes, a 10,000-child fan-out, one worker SIGKILLed
in the middle, and a WebSocket client that moves from one web process to the other.

Checks: every child ends exactly once as completed (one ``completed`` status event per
child), counters equal a recount, the event log has no seq gap, a bus subscriber in this
process saw every event once in order, and the WebSocket client, resuming on the second
web process from the last seq it processed, saw strictly increasing seqs and a final
``parent_job_progress`` with the right counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from websockets.asyncio.client import connect

from quaero import App, Settings
from quaero.events.types import Event
from tests.conftest import find_free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]

QUAERO = str(Path(sys.executable).with_name("quaero"))
N = 10_000


class Proc:
    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with self.log.open("wb") as out:
            self.p = subprocess.Popen(
                [QUAERO, *args], stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def tail(self) -> str:
        return (
            f"--- {self.name} (exit {self.p.poll()}) ---\n"
            + self.log.read_text(errors="replace")[-3000:]
        )

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


async def wait_for(what: str, pred: Any, timeout: float, procs: list[Proc]) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():
        if time.monotonic() > deadline:
            logs = "\n".join(p.tail() for p in procs)
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")
        await asyncio.sleep(0.1)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def test_three_workers_two_web_processes_one_killed_worker(
    pg_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "QUAERO_DB_URL": pg_url,
        "QUAERO_WORKER_LEASE_SECONDS": "3",
        "QUAERO_WORKER_POLL_INTERVAL": "0.5",
        "QUAERO_EVENTS_POLL_INTERVAL": "0.2",
        "QUAERO_WORKER_SHUTDOWN_TIMEOUT": "2",
    }
    env.pop("QUAERO_CONFIG", None)
    ports = [find_free_port(), find_free_port()]
    procs: list[Proc] = []
    settings = Settings()
    settings.store.url = pg_url
    settings.events.poll_interval = 0.1
    pg = await asyncpg.connect(pg_url)
    try:
        for i, port in enumerate(ports):
            procs.append(
                Proc(f"web{i}", ["serve", "--no-workers", "--port", str(port)], tmp_path, env)
            )
        for port in ports:
            await wait_for(f"web on {port}", lambda p=port: _now(healthy(p)), 60, procs)
        async with App(settings) as app:
            seen: list[Event] = []
            app.bus.subscribe(seen.append, after_seq=0)
            ws_messages: list[dict[str, Any]] = []
            ws_task = asyncio.create_task(websocket_client(ports, ws_messages))
            workers = [
                Proc(f"worker{i}", ["worker", "--concurrency", "16"], tmp_path, env)
                for i in range(3)
            ]
            procs.extend(workers)
            # children last a little, so a killed worker always dies holding leases
            job = await app.submit("fanout", {"children": N, "child_config": {"sleep_ms": 20}})

            async def completed_at_least(n: int) -> bool:
                return bool(
                    await pg.fetchval(
                        "SELECT child_completed >= $2 FROM jobs WHERE id = $1", job.id, n
                    )
                )

            await wait_for(
                "a third of the children", lambda: completed_at_least(N // 3), 120, procs
            )
            by_pid = {w.p.pid: w for w in workers}
            victim: list[Proc] = []

            async def lease_holders() -> set[int]:
                # lease owners are "host:pid:uuid"
                owners = await pg.fetch(
                    "SELECT lease_owner FROM jobs WHERE parent_id = $1 AND status = 'running'"
                    " AND lease_owner IS NOT NULL",
                    job.id,
                )
                return {int(r[0].split(":")[1]) for r in owners} & by_pid.keys()

            async def a_worker_holds_leases() -> bool:
                pids = await lease_holders()
                victim[:] = [by_pid[min(pids)]] if pids else []
                return bool(victim)

            while True:
                await wait_for("a worker holding leases", a_worker_holds_leases, 60, procs)
                # freeze it, then check it still holds leases: frozen, it cannot finish them
                victim[0].p.send_signal(signal.SIGSTOP)
                if victim[0].p.pid in await lease_holders():
                    break
                victim[0].p.send_signal(signal.SIGCONT)
            victim[0].p.send_signal(signal.SIGKILL)
            victim[0].p.wait()
            await wait_for(
                "the parent to finish",
                lambda: _parent_done(pg, job.id),
                180,
                procs,
            )
            final = await app.store.get_job(job.id)
            assert final is not None and final.status.value == "completed", final
            assert final.children.as_dict() == {
                "total": N,
                "pending": 0,
                "running": 0,
                "completed": N,
                "failed": 0,
                "cancelled": 0,
            }
            assert await app.store.recount() == []
            # every child ends exactly once as completed
            per_child = await pg.fetch(
                "SELECT (payload->>'job_id')::bigint AS id, count(*) AS n FROM events"
                " WHERE type = 'job_status_change' AND payload->>'status' = 'completed'"
                " AND (payload->>'parent_id')::bigint = $1 GROUP BY 1",
                job.id,
            )
            assert len(per_child) == N and {r["n"] for r in per_child} == {1}
            statuses = await pg.fetch(
                "SELECT status, count(*) FROM jobs WHERE parent_id = $1 GROUP BY 1", job.id
            )
            assert [tuple(r) for r in statuses] == [("completed", N)]
            # the killed worker's jobs went back to the queue and ran again elsewhere
            requeued = await pg.fetchval(
                "SELECT count(*) FROM job_logs WHERE message LIKE '%lease expired%'"
            )
            # the event log: no gap; the bus subscriber saw it all, once, in order
            last = int(
                await pg.fetchval("SELECT value FROM quaero_counters WHERE name = 'event_seq'")
            )
            assert await pg.fetchval("SELECT count(*) FROM events") == last
            await wait_for(
                "the bus to catch up", lambda: _now(bool(seen) and seen[-1].seq == last), 30, procs
            )
            assert [e.seq for e in seen] == list(range(1, last + 1))
            # the WebSocket client (moved from web0 to web1) saw the final progress
            await wait_for(
                "the final progress on the WebSocket",
                lambda: _now(_final_progress(ws_messages, job.id) is not None),
                30,
                procs,
            )
            ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ws_task
            seqs = [m["seq"] for m in ws_messages if m["type"] == "parent_job_progress"]
            assert seqs == sorted(set(seqs)), "WebSocket messages repeated or went backwards"
            assert {m["port"] for m in ws_messages} == set(ports), "the client did not move"
            payload = _final_progress(ws_messages, job.id)
            assert payload is not None
            assert payload["completed_children"] == N and payload["pending_children"] == 0
            assert payload["running_children"] == 0 and payload["status"] == "completed"
            assert requeued >= 1, "the killed worker held no lease?"
    finally:
        for p in procs:
            p.stop()
        await pg.close()


async def websocket_client(ports: list[int], out: list[dict[str, Any]]) -> None:
    """Follow ``parent_job_progress`` on web0; after 10 messages, disconnect and resume
    on web1 from the last seq processed (each message records the port it came from)."""
    last = 0
    for i, port in enumerate(ports):
        url = f"ws://127.0.0.1:{port}/ws?types=parent_job_progress&after={last}"
        async with connect(url, max_size=None) as ws:
            async for text in ws:
                msg = json.loads(text)
                if msg["type"] != "parent_job_progress":
                    continue
                msg["port"] = port
                out.append(msg)
                last = msg["seq"]
                if i == 0 and len(out) >= 10:
                    break


def _final_progress(messages: list[dict[str, Any]], job_id: int) -> dict[str, Any] | None:
    for m in reversed(messages):
        if m["type"] == "parent_job_progress" and m["payload"]["job_id"] == job_id:
            p: dict[str, Any] = m["payload"]
            return p if p["pending_children"] == 0 and p["running_children"] == 0 else None
    return None


async def _parent_done(pg: asyncpg.Connection, job_id: int) -> bool:
    status = await pg.fetchval("SELECT status FROM jobs WHERE id = $1", job_id)
    return status in ("completed", "failed", "cancelled")


async def _now(value: bool) -> bool:
    return value
