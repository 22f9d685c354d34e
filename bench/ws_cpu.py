"""Server CPU with 50 WebSocket clients watching a 100,000-child job.

Runs the same job twice on a fresh ``quaero serve`` (workers in-process, SQLite): once
with no WebSocket client, once with ``--clients`` clients connected (in this process),
and reads the server process's CPU time (user + system, psutil) over the job's run.
The difference is what serving the clients costs. Client subscriptions (``--watch``):

- ``job`` (default): what the job page opens: ``job_ids=<job>`` with the types it shows
  (parent_job_progress, job_status_change, log, job_progress, job_deleted);
- ``jobs``: the jobs page: top-level progress/status/created/deleted;
- ``all``: no filter at all (every child's status change: the worst case).

    .venv/bin/python bench/ws_cpu.py --children 100000 --clients 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import psutil
import websockets
from ws_latency import Server, http, start_server

WATCH = {
    "job": "types=parent_job_progress,job_status_change,log,job_progress,job_deleted&job_ids={job}",
    "jobs": "types=parent_job_progress,job_status_change,job_created,job_deleted&top_level=1",
    "all": "",
}


async def client(
    server: Server, query: str, counts: list[int], idx: int, ready: asyncio.Event
) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws?{query}"
    async with websockets.connect(url, proxy=None, compression=None, max_queue=None) as ws:
        ready.set()
        async for raw in ws:
            counts[idx] += 1
            msg = json.loads(raw)
            p = msg["payload"]
            if msg["type"] == "parent_job_progress" and p.get("status") in (
                "completed",
                "failed",
                "cancelled",
            ):
                return


async def run(children: int, clients: int, watch: str, concurrency: int) -> dict[str, Any]:
    server = start_server(concurrency=concurrency)
    proc = psutil.Process(server.proc.pid)
    try:
        # the job is created paused-free: clients subscribe to its id before it starts
        cfg = {"children": children}
        before_cpu = proc.cpu_times()
        t0 = time.monotonic()
        job = http("POST", f"{server.url}/api/jobs", {"job_type": "fanout", "config": cfg})
        counts = [0] * clients
        tasks = []
        for i in range(clients):
            ready = asyncio.Event()
            query = WATCH[watch].format(job=job["id"])
            tasks.append(asyncio.create_task(client(server, query, counts, i, ready)))
            await ready.wait()
        while True:
            j = http("GET", f"{server.url}/api/jobs/{job['id']}")
            if j["overall_status"] in ("completed", "failed", "cancelled"):
                break
            await asyncio.sleep(0.2)
        wall = time.monotonic() - t0
        after_cpu = proc.cpu_times()
        if tasks:
            await asyncio.wait_for(asyncio.gather(*tasks), 120)
        metrics = urllib_text(f"{server.url}/metrics")
    finally:
        server.stop()
    cpu = (after_cpu.user - before_cpu.user) + (after_cpu.system - before_cpu.system)
    sent = next(
        (
            float(line.split()[1])
            for line in metrics.splitlines()
            if line.startswith("quaero_websocket_messages_total ")
        ),
        0.0,
    )
    return {
        "clients": clients,
        "watch": watch,
        "wall_s": wall,
        "server_cpu_s": cpu,
        "server_cpu_pct": 100 * cpu / wall,
        "messages_received": sum(counts),
        "messages_sent": sent,
        "children_per_s": children / wall,
    }


def urllib_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:
        return str(r.read().decode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--children", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--watch", choices=sorted(WATCH), action="append")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1, help="runs per setting (median kept)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    settings = [(0, "job")] + [(args.clients, w) for w in args.watch or ["job"]]
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {s: [] for s in settings}
    for _ in range(args.repeat):  # interleaved, so that load from elsewhere hits all alike
        for clients, watch in settings:
            runs[(clients, watch)].append(
                asyncio.run(run(args.children, clients, watch, args.concurrency))
            )
    results = [sorted(rs, key=lambda r: r["server_cpu_s"])[len(rs) // 2] for rs in runs.values()]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    base = results[0]
    print(
        f"server CPU over a {args.children:,}-child fanout (quaero serve, SQLite, workers"
        f" in-process; median of {args.repeat} run(s))"
    )
    for r in results:
        extra = r["server_cpu_s"] - base["server_cpu_s"]
        per_msg = extra / r["messages_sent"] * 1e6 if r["messages_sent"] else 0.0
        print(
            f"  {r['clients']:>3} clients ({r['watch']:>4}): {r['wall_s']:.1f} s wall,"
            f" {r['server_cpu_s']:.1f} s CPU ({r['server_cpu_pct']:.0f}% of a core),"
            f" {r['children_per_s']:,.0f} children/s, {int(r['messages_sent']):,} messages sent"
            + (
                f"; +{extra:.1f} s CPU vs no clients (~{per_msg:.0f} µs/message)"
                if r["clients"]
                else ""
            )
        )


if __name__ == "__main__":
    main()
