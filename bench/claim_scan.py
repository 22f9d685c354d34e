"""Claims behind a backlog the worker cannot take (migrations 0013 / postgres 0017).

A worker claims due pending jobs of the types it serves. Pending jobs it cannot take sit
in the same table: jobs of a type it does not serve (served by other workers, or by
none yet: ``[jobs] external_types``), and retries whose backoff has not run out. This
runs one fan-out of ``--children`` no-op children in this process (one worker of 8
slots) on a fresh database, after creating ``--backlog`` such jobs, and prints
children/s and this process's CPU per child for:

- ``none``: no backlog (the reference);
- ``other-type``: the backlog is pending jobs of a type no worker serves;
- ``not-due``: the backlog is no-op jobs due in an hour.

Before migration 0013 every claim walked all pending jobs in id order, past the backlog:
20,000 jobs of another type made the fan-out 3-4x slower on both backends.

    .venv/bin/python bench/claim_scan.py --backlog 20000 --children 3000
    eval "$(PG_EXTRA_OPTS='-c fsync=on' scripts/pg-start.sh)"
    .venv/bin/python bench/claim_scan.py --pg-url "$QUAERO_TEST_PG_URL" --backends postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from quaero import App, NewJob, Settings


async def _backlog(app: App, kind: str, n: int) -> None:
    if kind == "none":
        return
    for start in range(0, n, 5000):
        count = min(5000, n - start)
        if kind == "other-type":
            jobs = [NewJob("elsewhere") for _ in range(count)]
        else:
            jobs = [NewJob("noop", delay=3600) for _ in range(count)]
        await app.store.create_jobs(jobs)


async def one(url: str, kind: str, backlog: int, children: int) -> tuple[float, float]:
    s = Settings()
    s.store.url = url
    s.jobs.external_types = ["elsewhere"]
    async with App(s) as setup:  # closed before the run: its events are not read again
        await _backlog(setup, kind, backlog)
    app = App(s)
    async with app:
        w = app.worker(concurrency=8, job_types=["fanout", "noop"])
        await w.start()
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            job = await app.submit("fanout", {"children": children})
            await app.wait(job.id, timeout=900)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        finally:
            await w.stop()
    return children / wall, cpu / children * 1e6


async def _fresh_pg(url: str, name: str) -> str:
    import asyncpg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + f"/{name}"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backlog", type=int, default=20_000)
    ap.add_argument("--children", type=int, default=3_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--backends", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    ap.add_argument("--pg-url", default=os.environ.get("QUAERO_TEST_PG_URL"))
    args = ap.parse_args()
    if "postgres" in args.backends and not args.pg_url:
        raise SystemExit('no PostgreSQL: eval "$(scripts/pg-start.sh)" or pass --pg-url')
    print(f"{'backend':9} {'backlog':11} {'children/s':>11} {'CPU us/child':>13}")
    for _ in range(args.repeat):
        for backend in args.backends:
            for kind in ("none", "other-type", "not-due"):
                with tempfile.TemporaryDirectory(prefix="quaero-claim-") as d:
                    if backend == "sqlite":
                        url = f"sqlite:///{Path(d) / 'claim.db'}"
                    else:
                        url = await _fresh_pg(args.pg_url, "quaero_claim_scan")
                    rate, cpu = await one(url, kind, args.backlog, args.children)
                print(f"{backend:9} {kind:11} {rate:11.0f} {cpu:13.0f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
