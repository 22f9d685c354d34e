"""The WebSocket ``/ws`` against a real uvicorn server and real ``websockets`` clients."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
import websockets

from quaero.config import Settings
from quaero.events.types import PARENT_JOB_PROGRESS
from quaero.jobs.models import JobStatus
from quaero.store.base import LogEntry
from quaero.web.hub import Filter

from .conftest import CONTROL_TYPES, LiveServer, make_tree, serve, wait_for, ws_connect

SEED_PAYLOAD_KEYS = {
    "job_id",
    "progress_text",
    "status",
    "timestamp",
    "total_children",
    "pending_children",
    "running_children",
    "completed_children",
    "failed_children",
    "cancelled_children",
}


def is_final(m: dict[str, Any], job_id: int) -> bool:
    p = m["payload"]
    return (
        m["type"] == PARENT_JOB_PROGRESS
        and p["job_id"] == job_id
        and p["status"] in ("completed", "failed", "cancelled")
    )


async def finish_children(live: LiveServer, kids: list[int], pause: float = 0.0) -> None:
    for k in kids:
        await live.app.manager.update_job_status(k, JobStatus.RUNNING)
        await live.app.manager.update_job_status(k, JobStatus.COMPLETED)
        if pause:
            await asyncio.sleep(pause)  # pace the producer so the run spans several intervals


async def test_seed_payload_exact(live: LiveServer) -> None:
    async with ws_connect(f"{live.ws_url}?types=parent_job_progress") as ws:
        await ws.ready()
        parent, kids = await make_tree(live.app, 3)
        await live.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
        msgs = await ws.until(lambda m: m["payload"].get("running_children") == 1)
        msg = msgs[-1]
        assert set(msg) == {"type", "seq", "payload"}
        assert msg["type"] == "parent_job_progress" and isinstance(msg["seq"], int)
        p = msg["payload"]
        # the seed's fields exactly, plus the whole subtree's counts
        assert set(p) == SEED_PAYLOAD_KEYS | {"descendants"}
        assert p["descendants"] == {
            "total": 3,
            "pending": 2,
            "running": 1,
            "completed": 0,
            "failed": 0,
            "cancelled": 0,
        }
        del p["descendants"]
        assert p == {
            "job_id": parent,
            "progress_text": "2 pending, 1 running, 0 completed, 0 failed",
            "status": "running",
            "timestamp": p["timestamp"],
            "total_children": 3,
            "pending_children": 2,
            "running_children": 1,
            "completed_children": 0,
            "failed_children": 0,
            "cancelled_children": 0,
        }
        assert p["timestamp"].endswith("Z") and "T" in p["timestamp"]


async def test_throttle_keeps_latest_and_sends_terminal(web_settings: Settings) -> None:
    interval = 0.25
    web_settings.websocket.throttle_intervals = {"parent_job_progress": interval}
    async with serve(web_settings) as live:
        parent, kids = await make_tree(live.app, 40)
        url = f"{live.ws_url}?types=parent_job_progress&job_ids={parent}"
        async with ws_connect(url) as ws:
            await ws.ready()
            producer = asyncio.create_task(finish_children(live, kids, pause=0.03))
            msgs = await ws.until(lambda m: is_final(m, parent), timeout=30)
            await producer
        progress = [m for m in msgs if m["type"] == PARENT_JOB_PROGRESS]
        final = progress[-1]["payload"]
        assert final["progress_text"] == "0 pending, 0 running, 40 completed, 0 failed"
        assert final["completed_children"] == 40 and final["status"] == "completed"
        seqs = [m["seq"] for m in progress]
        assert seqs == sorted(set(seqs)), "strictly increasing seqs"
        events = await live.app.store.read_events(0, 10_000, [PARENT_JOB_PROGRESS], [parent])
        events = [e for e in events if e.job_id == parent]
        assert events[-1].seq == seqs[-1] and events[-1].payload == final  # the latest
        # at most one message per interval (the run lasts > 2 s; the terminal one is extra)
        assert len(events) > 60
        assert len(progress) < len(events) / 3


async def test_terminal_state_is_not_held_back(web_settings: Settings) -> None:
    web_settings.websocket.throttle_intervals = {"parent_job_progress": 30.0}
    async with serve(web_settings) as live:
        parent, kids = await make_tree(live.app, 20)
        last = (await live.app.store.event_bounds())[1]
        url = f"{live.ws_url}?types=parent_job_progress&job_ids={parent}&after={last}"
        async with ws_connect(url) as ws:
            await ws.ready()
            await live.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
            first = (await ws.until(lambda m: m["type"] == PARENT_JOB_PROGRESS))[-1]
            assert first["payload"]["running_children"] == 1
            started = time.monotonic()
            await live.app.manager.update_job_status(kids[0], JobStatus.COMPLETED)
            await finish_children(live, kids[1:])
            msgs = await ws.until(lambda m: is_final(m, parent), timeout=10)
            assert time.monotonic() - started < 10  # not after the 30 s interval
            # everything in between was coalesced into the final message
            assert [m["type"] for m in msgs] == [PARENT_JOB_PROGRESS]
            assert msgs[0]["payload"]["completed_children"] == 20


async def test_resume_gets_exactly_the_missed_events(web_settings: Settings) -> None:
    web_settings.websocket.throttle_intervals = {}  # every event is delivered as is
    async with serve(web_settings) as live:
        parent, kids = await make_tree(live.app, 300)
        start_seq = 0
        stop = asyncio.Event()

        async def produce() -> None:
            rng = random.Random(7)
            for i, k in enumerate(kids):
                if stop.is_set():
                    return
                await live.app.manager.update_job_status(k, JobStatus.RUNNING)
                await live.app.store.add_logs([LogEntry(k, "info", f"line {i}", time.time())])
                status = JobStatus.FAILED if rng.random() < 0.1 else JobStatus.COMPLETED
                await live.app.manager.update_job_status(k, status)
                await asyncio.sleep(0.002)

        producer = asyncio.create_task(produce())
        received: list[dict[str, Any]] = []
        after = start_seq
        rng = random.Random(3)
        for _ in range(6):  # disconnect and resume several times while events keep coming
            url = f"{live.ws_url}?after={after}&job_ids={parent}&tree=1"
            async with ws_connect(url) as ws:
                for _ in range(rng.randint(20, 200)):
                    msg = await ws.recv()
                    if msg["type"] not in CONTROL_TYPES:
                        received.append(msg)
                        after = msg["seq"]
        await producer
        expected = [
            e
            for e in await live.app.store.read_events(start_seq, 100_000, (), [parent])
            if Filter(job_ids=frozenset([parent]), tree=True).matches(e)
        ]
        last = expected[-1].seq
        async with ws_connect(f"{live.ws_url}?after={after}&job_ids={parent}&tree=1") as ws:
            if after < last:
                msgs = await ws.until(lambda m: m["seq"] >= last and m["type"] != "ready")
                received += [m for m in msgs if m["type"] not in CONTROL_TYPES]
        got = [m["seq"] for m in received]
        assert len(got) == len(set(got)), "no duplicates"
        assert got == [e.seq for e in expected], "no gap, in order"
        assert [m["payload"] for m in received] == [e.payload for e in expected]


async def test_resume_under_throttling_delivers_final_state(web_settings: Settings) -> None:
    web_settings.websocket.throttle_intervals = {"parent_job_progress": 0.2}
    async with serve(web_settings) as live:
        parent, kids = await make_tree(live.app, 60)
        url = f"{live.ws_url}?types=parent_job_progress,job_status_change&job_ids={parent}"
        async with ws_connect(url) as ws:
            await ws.ready()
            await finish_children(live, kids[:20])
            msgs = await ws.until(lambda m: m["payload"].get("completed_children") == 20)
        cursor = msgs[-1]["seq"]
        await finish_children(live, kids[20:])  # while disconnected
        await live.app.manager.update_job_status(parent, JobStatus.COMPLETED)
        async with ws_connect(f"{url}&after={cursor}") as ws:
            msgs = await ws.until(lambda m: m["type"] == "job_status_change")
        assert all(m["seq"] > cursor for m in msgs if m["type"] != "ready")
        progress = [m for m in msgs if m["type"] == PARENT_JOB_PROGRESS]
        text = progress[-1]["payload"]["progress_text"]
        assert text == "0 pending, 0 running, 60 completed, 0 failed"
        # the parent's own status change was missed too, and comes after the progress
        assert msgs[-1]["payload"] == {
            **msgs[-1]["payload"],
            "job_id": parent,
            "status": "completed",
        }


async def test_snapshot_when_resume_point_is_gone(live: LiveServer) -> None:
    parent, kids = await make_tree(live.app, 3)
    await live.app.store.prune_events(time.time() + 60)  # keeps only the newest event
    first, last = await live.app.store.event_bounds()
    assert first == last
    async with ws_connect(f"{live.ws_url}?after=1") as ws:
        snap = await ws.recv()
        assert snap["type"] == "snapshot" and snap["payload"]["reason"] == "expired"
        assert snap["seq"] == last
        assert [j["id"] for j in snap["payload"]["jobs"]] == [parent]
        assert snap["payload"]["jobs"][0]["children"]["pending"] == 3
        ready = await ws.ready()
        assert ready["seq"] == last
        await live.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
        msgs = await ws.until(lambda m: m["type"] == "job_status_change")
        assert msgs[-1]["seq"] > last
    async with ws_connect(f"{live.ws_url}?after={last + 1000}") as ws:
        snap = await ws.recv()
        assert snap["type"] == "snapshot" and snap["payload"]["reason"] == "unknown_seq"


async def test_whitelist_is_respected(web_settings: Settings) -> None:
    web_settings.websocket.allowed_events = ["parent_job_progress"]
    async with (
        serve(web_settings) as live,
        ws_connect(live.ws_url) as a,
        ws_connect(f"{live.ws_url}?types=log") as b,
    ):
        assert (await a.ready())["payload"]["filter"]["event_types"] == ["parent_job_progress"]
        assert (await b.ready())["payload"]["filter"]["event_types"] == []
        parent, kids = await make_tree(live.app, 5)
        await live.app.store.add_logs([LogEntry(parent, "info", "hello", time.time())])
        await finish_children(live, kids)
        await a.until(lambda m: is_final(m, parent))
        assert {m["type"] for m in a.events} == {"parent_job_progress"}
        position = live.api.state.hub.position
        await b.send({"type": "ping"})
        pong = await b.recv()
        # the pong carries the hub position only if nothing was queued for b
        assert pong["type"] == "pong" and pong["seq"] == position
        assert b.events == []


async def test_job_subscription_gets_only_that_job(live: LiveServer) -> None:
    parent, kids = await make_tree(live.app, 5)
    async with ws_connect(f"{live.ws_url}?job_ids={kids[2]}") as ws:
        await ws.ready()
        await finish_children(live, kids)
        msgs = await ws.until(
            lambda m: m["type"] == "job_status_change" and m["payload"]["status"] == "completed"
        )
        assert {m["payload"]["job_id"] for m in msgs if m["type"] not in CONTROL_TYPES} == {kids[2]}
        # switch to the parent with a subscribe message
        await ws.send({"type": "subscribe", "event_types": [], "job_ids": [parent]})
        sub = await ws.until(lambda m: m["type"] == "subscribed")
        assert sub[-1]["payload"]["filter"]["job_ids"] == [parent]
        await live.app.store.add_logs([LogEntry(parent, "info", "to parent", time.time())])
        await live.app.store.add_logs([LogEntry(kids[0], "info", "to child", time.time())])
        # (the parent's own final progress line may come first: it is a log of the parent)
        msgs = await ws.until(
            lambda m: m["type"] == "log" and m["payload"]["message"] == "to parent"
        )
        assert {m["payload"]["job_id"] for m in msgs if m["type"] == "log"} == {parent}


async def test_ping_pong_and_bad_messages(live: LiveServer) -> None:
    async with ws_connect(live.ws_url) as ws:
        ready = await ws.ready()
        await ws.send({"type": "ping"})
        pong = await ws.recv()
        assert pong["type"] == "pong" and pong["seq"] >= ready["seq"]
        await ws.conn.send("not json")
        err = await ws.recv()
        assert err["type"] == "error" and "Expecting value" in err["payload"]["detail"]
        await ws.send({"type": "dance"})
        err = await ws.recv()
        assert err["type"] == "error" and "unknown message type 'dance'" in err["payload"]["detail"]
        await ws.send({"type": "subscribe", "job_ids": ["x"]})
        err = await ws.recv()
        assert err["type"] == "error" and "job_ids" in err["payload"]["detail"]


@pytest.mark.parametrize(
    "query", ["after=-3", "after=abc", "job_ids=1,x", "types=Bad-Type", "types=a;b"]
)
async def test_bad_query_is_refused_with_a_reason(live: LiveServer, query: str) -> None:
    async with ws_connect(f"{live.ws_url}?{query}") as ws:
        err = await ws.recv()
        assert err["type"] == "error" and err["payload"]["detail"]
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 4400


async def test_token_and_origin(web_settings: Settings) -> None:
    web_settings.server.api_token = "tok"
    web_settings.server.allowed_origins = ["https://dash.example"]
    async with serve(web_settings) as live:
        async with ws_connect(live.ws_url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 4401
        async with ws_connect(f"{live.ws_url}?token=tok") as ws:
            await ws.ready()
        headers = {"Authorization": "Bearer tok"}
        async with ws_connect(live.ws_url, additional_headers=headers) as ws:
            await ws.ready()
        same = f"http://127.0.0.1:{live.port}"
        for origin in (same, "https://dash.example"):
            async with ws_connect(f"{live.ws_url}?token=tok", origin=origin) as ws:
                await ws.ready()
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with ws_connect(f"{live.ws_url}?token=tok", origin="http://evil.example"):
                pass
        assert refused.value.response.status_code == 403


async def test_stalled_client_does_not_block_others(web_settings: Settings) -> None:
    import socket

    web_settings.websocket.throttle_intervals = {}
    web_settings.websocket.client_queue = 300
    # the stalled client answers no ping: keep-alive must not drop it before it reads
    # again, however long the 3,000 lines take on a busy machine
    web_settings.websocket.ping_interval = 300
    async with serve(web_settings) as live:
        parent, _ = await make_tree(live.app, 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", live.port))
        sock.setblocking(False)
        async with (
            ws_connect(f"{live.ws_url}?types=log", sock=sock, max_queue=1) as stalled,
            ws_connect(f"{live.ws_url}?types=log") as normal,
        ):
            await stalled.ready()
            await normal.ready()
            hub = live.api.state.hub
            # the stalled client never reads again; 3,000 lines of 8 KB go to both
            filler = "x" * 8192
            total = 3000
            started = time.monotonic()
            for batch in range(total // 50):
                entries = [
                    LogEntry(parent, "info", f"{batch * 50 + i} {filler}", time.time())
                    for i in range(50)
                ]
                await live.app.store.add_logs(entries)
                want = (batch + 1) * 50
                # the normal client keeps up: it has every line of this batch promptly
                while len(normal.events) < want:
                    await normal.recv(timeout=10)
            took = time.monotonic() - started
            lines = [int(m["payload"]["message"].split()[0]) for m in normal.events]
            assert lines == list(range(total)), "normal client got everything, in order"
            assert took < 60
            overflowed = [c for c in hub.clients if c.outbox.overflows > 0]
            assert overflowed, "the stalled client overflowed its bounded queue"
            assert all(len(c.outbox) <= 300 for c in hub.clients)
            # when it reads again, it is told to resync instead of silently losing events
            msgs = await stalled.until(lambda m: m["type"] == "snapshot", timeout=30)
            assert msgs[-1]["payload"]["reason"] == "resync"
            assert len(msgs) < total


async def test_metrics_count_ws_clients(live: LiveServer) -> None:
    import httpx

    async with ws_connect(live.ws_url) as ws, httpx.AsyncClient() as http:
        await ws.ready()
        text = (await http.get(f"{live.http_url}/metrics")).text
        assert "quaero_websocket_clients 1.0" in text
    await wait_for(lambda: live.api.state.hub.client_count == 0, 10, "the client to detach")
