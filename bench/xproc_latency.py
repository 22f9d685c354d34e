"""Cross-process latency on SQLite: worker processes -> a separate web process -> WebSocket.

The deployment from the README: ``quaero serve --no-workers`` (web only) plus separate
``quaero worker`` processes on one SQLite file. A WebSocket client of the web process
subscribes to ``parent_job_progress`` of top-level jobs; a fanout of N children runs on
the worker processes. The k-th child completion is delivered by the first message whose
``completed_children >= k``, so its latency is

    receive time of that message - completed_at of the child (its commit transaction)

The web process's throttle is off (the raw path: commit in a worker -> wake-up socket ->
the web process reads the log -> hub -> socket). Then, with the workers still running
and idle, the web process's CPU is sampled from /proc over ``--idle-seconds``.

    .venv/bin/python bench/xproc_latency.py --children 2000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ws_latency import epoch, free_port, http, percentile

QUAERO = str(Path(sys.executable).with_name("quaero"))
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [QUAERO, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"quaero serve exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"quaero serve did not start (see {log})")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="quaero-xproc-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "QUAERO_DB_URL": f"sqlite:///{tmp}/bench.db",
        "QUAERO_WEBSOCKET_THROTTLE_INTERVALS": json.dumps({"parent_job_progress": 0}),
    }
    env.pop("QUAERO_CONFIG", None)
    if args.poll_interval is not None:
        env["QUAERO_EVENTS_POLL_INTERVAL"] = str(args.poll_interval)
    web = spawn(["serve", "--no-workers", "--port", str(port)], env, tmp / "serve.log")
    url = f"http://127.0.0.1:{port}"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        wait_healthy(url, web, tmp / "serve.log")
        workers = [
            spawn(["worker", "--concurrency", str(args.concurrency)], env, tmp / f"worker{i}.log")
            for i in range(args.workers)
        ]
        time.sleep(2)  # the workers open the store and go idle
        received: list[tuple[float, dict[str, Any]]] = []
        ws_url = f"ws://127.0.0.1:{port}/ws?types=parent_job_progress&top_level=1"
        async with websockets.connect(ws_url, proxy=None, compression=None, max_queue=None) as ws:
            while json.loads(await ws.recv())["type"] != "ready":
                pass
            config = {"children": args.children, "child_config": {"sleep_ms": args.sleep_ms}}
            job = http("POST", f"{url}/api/jobs", {"job_type": "fanout", "config": config})
            while True:
                raw = await asyncio.wait_for(ws.recv(), 300)
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
                f"{url}/api/jobs/{job['id']}/children?limit=500&offset={offset}&status=completed",
            )
            done += [epoch(c["completed_at"]) for c in page["items"]]
            offset += 500
            if offset >= page["total"]:
                break
        time.sleep(2)  # let the last commits settle before sampling idle CPU
        c0, t0 = cpu_seconds(web.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(web.pid) - c0) / (time.monotonic() - t0)
    finally:
        for p in [*workers, web]:
            p.send_signal(signal.SIGTERM)
        for p in [*workers, web]:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
    done.sort()
    latencies = []
    i = 0
    for k, t_change in enumerate(done, start=1):
        while received[i][1]["completed_children"] < k:
            i += 1
        latencies.append(received[i][0] - t_change)
    return {
        "workers": args.workers,
        "changes": len(latencies),
        "messages": len(received),
        "p50_ms": statistics.median(latencies) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "idle_cpu_percent": idle_cpu * 100,
        "idle_seconds": args.idle_seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--children", type=int, default=2000)
    ap.add_argument("--sleep-ms", type=int, default=20, help="each child's run time")
    ap.add_argument("--workers", type=int, default=2, help="quaero worker processes")
    ap.add_argument("--concurrency", type=int, default=16, help="slots per worker process")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument(
        "--poll-interval", type=float, help="[events] poll_interval of every process (fallback)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = asyncio.run(run(args))
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(
        f"SQLite, {r['workers']} worker process(es) -> serve --no-workers -> WebSocket "
        f"({args.children} children, sleep {args.sleep_ms} ms, {args.concurrency} slots each)"
    )
    print(
        f"  {r['changes']} changes, {r['messages']} messages: p50 {r['p50_ms']:.1f} ms,"
        f" p90 {r['p90_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms"
    )
    print(f"  idle web process: {r['idle_cpu_percent']:.2f} % CPU over {r['idle_seconds']:.0f} s")


if __name__ == "__main__":
    main()
