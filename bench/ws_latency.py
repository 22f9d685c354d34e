"""Latency from a child's status change to a WebSocket client receiving the progress.

Starts a real ``quaero serve`` (workers in-process, SQLite in a temp dir), connects one
WebSocket client subscribed to ``parent_job_progress`` of top-level jobs, starts a fanout
with N children, and records when each progress message arrives. Afterwards it reads
every child's ``completed_at`` (the commit-transaction time of its ``completed`` change,
the same clock as the payload timestamp) through the REST API. The k-th completion is
delivered by the first message whose ``completed_children >= k``, so its latency is

    receive time of that message - completed_at of the child

Each run prints the median, p90, p99 and max over all N changes (N >= 1,000), with the
throttle off (the raw pipeline: commit → event bus → hub → socket) and with the default
100 ms coalescing throttle (at most one message per job per 100 ms).

    .venv/bin/python bench/ws_latency.py --children 2000 --sleep-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import websockets

QUAERO = str(Path(sys.executable).with_name("quaero"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    tmp: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def start_server(env: dict[str, str] | None = None, concurrency: int = 16) -> Server:
    """``quaero serve`` on a free port and a fresh SQLite file; waits for /healthz."""
    tmp = tempfile.mkdtemp(prefix="quaero-ws-bench-")
    port = free_port()
    proc = subprocess.Popen(
        [
            QUAERO,
            "--db",
            f"sqlite:///{tmp}/bench.db",
            "serve",
            "--port",
            str(port),
            "--concurrency",
            str(concurrency),
        ],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(tmp, "serve.log"), "wb"),  # noqa: SIM115
    )
    server = Server(proc, port, tmp)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"quaero serve did not start (see {tmp}/serve.log)")


def http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(children: int, sleep_ms: int, throttle: float, concurrency: int) -> dict[str, Any]:
    env = {"QUAERO_WEBSOCKET_THROTTLE_INTERVALS": json.dumps({"parent_job_progress": throttle})}
    server = start_server(env, concurrency)
    try:
        url = f"ws://127.0.0.1:{server.port}/ws?types=parent_job_progress&top_level=1"
        received: list[tuple[float, dict[str, Any]]] = []
        async with websockets.connect(url, proxy=None, compression=None, max_queue=None) as ws:
            while json.loads(await ws.recv())["type"] != "ready":
                pass
            config = {"children": children, "child_config": {"sleep_ms": sleep_ms}}
            job = http("POST", f"{server.url}/api/jobs", {"job_type": "fanout", "config": config})
            while True:
                raw = await asyncio.wait_for(ws.recv(), 120)
                now = time.time()
                msg = json.loads(raw)
                p = msg["payload"]
                if msg["type"] != "parent_job_progress" or p["job_id"] != job["id"]:
                    continue
                received.append((now, p))
                if p["status"] in ("completed", "failed", "cancelled"):
                    break
        done: list[float] = []
        offset = 0
        while True:
            page = http(
                "GET",
                f"{server.url}/api/jobs/{job['id']}/children?limit=500&offset={offset}"
                "&status=completed",
            )
            done += [epoch(c["completed_at"]) for c in page["items"]]
            offset += 500
            if offset >= page["total"]:
                break
    finally:
        server.stop()
    done.sort()
    latencies = []
    i = 0
    for k, t_change in enumerate(done, start=1):
        while received[i][1]["completed_children"] < k:
            i += 1
        latencies.append(received[i][0] - t_change)
    return {
        "throttle_s": throttle,
        "changes": len(latencies),
        "messages": len(received),
        "median_ms": statistics.median(latencies) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--children", type=int, default=2000)
    ap.add_argument("--sleep-ms", type=int, default=20, help="each child's run time")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument(
        "--throttle", type=float, action="append", help="seconds (repeatable; default 0 and 0.1)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [
        asyncio.run(run(args.children, args.sleep_ms, t, args.concurrency))
        for t in (args.throttle or [0.0, 0.1])
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"child status change -> parent_job_progress received over /ws "
        f"({args.children} children, sleep {args.sleep_ms} ms, concurrency {args.concurrency})"
    )
    for r in results:
        print(
            f"  throttle {r['throttle_s']:>4}s: {r['changes']} changes, {r['messages']} messages;"
            f" median {r['median_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms,"
            f" p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
