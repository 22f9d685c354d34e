"""Fan-out on PostgreSQL vs SQLite with 1, 2, 4 and 8 ``quaero worker`` processes.

For each backend and process count: a fresh database, P ``quaero worker`` processes
(16 async slots each), then this process submits one ``fanout`` parent with N no-op
children and follows the event bus (on PostgreSQL woken by LISTEN/NOTIFY, on SQLite by
polling every ``events.poll_interval``) until the parent completes. It prints:

- children/s: N / (parent completed_at - parent created_at), spawning included;
- progress delay p50/p99: for each ``parent_job_progress`` the subscriber receives, the
  time from the committing transaction's timestamp (``created_at`` of the event, taken
  at the start of that transaction, so this slightly over-states the delay) to delivery;
- PostgreSQL only: the share of sampled busy database sessions that were waiting on a
  row or transaction lock (the hot-parent-row check), and retried transactions.

    # a throwaway server with the durability the peers were measured with (pg-start.sh's
    # own default is fsync=off, for tests), or any server: --pg-url postgresql://...
    eval "$(PG_EXTRA_OPTS='-c fsync=on -c synchronous_commit=on -c full_page_writes=on' \
            scripts/pg-start.sh)"
    .venv/bin/python bench/pg_fanout.py --children 100000 --procs 1 2 4 8
    .venv/bin/python bench/pg_fanout.py --children 100000 --procs 8 --parents 16   # no hot row
    scripts/pg-stop.sh "$QUAERO_PG_DIR"

``--parents K`` splits the same N children over K parents (to compare against one hot
parent row). Results are printed as JSON lines, then as a table.

Figures, with the command and the settings of each sitting (PostgreSQL at fsync=on, as
the peers were measured), are in the README ("PostgreSQL at fsync=on"). On two cores the
CPU per child of the database and of the worker process, not locking, sets the ceiling.
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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from quaero import App, Settings
from quaero.events.types import Event

QUAERO = str(Path(sys.executable).with_name("quaero"))
_TICK = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by processes (by /proc polling, so exited ones count up to their
    last sample): the database server's (its postmaster and the postmaster's children,
    not other PostgreSQL servers on a shared machine) and given pids."""

    def __init__(self, pids: list[int], postmaster: int | None = None) -> None:
        self.pids = set(pids)
        self.postmaster = postmaster
        self.seen: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)
                comm = fields[0].split("(", 1)[1]
                rest = fields[1].split()
            except (OSError, IndexError):
                continue
            pid = int(entry.name)
            ppid = int(rest[1])
            ours = self.postmaster in (pid, ppid)
            kind = "db" if ours and comm.startswith("postgres") else ""
            kind = kind or ("workers" if pid in self.pids else "")
            if kind:
                self.seen[pid] = (kind, (int(rest[11]) + int(rest[12])) / _TICK)

    def totals(self) -> dict[str, float]:
        out = {"db": 0.0, "workers": 0.0}
        for kind, secs in self.seen.values():
            out[kind] += secs
        return out


async def meter(m: CpuMeter, stop: asyncio.Event) -> None:
    while not stop.is_set():
        m.sample()
        await asyncio.sleep(0.2)


async def postmaster_pid(url: str) -> int:
    """The pid of the server's postmaster (the parent of a backend): only its processes
    count as database CPU."""
    conn = await asyncpg.connect(url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        with open(f"/proc/{backend}/stat") as f:  # while the backend lives
            return int(f.read().rsplit(")", 1)[1].split()[1])
    finally:
        await conn.close()


async def fresh_pg(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


async def sample_locks(url: str, stop: asyncio.Event, out: dict[str, int]) -> None:
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 40)"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND state = 'active'"
                " AND application_name = 'quaero' AND pid <> pg_backend_pid()"
            )
            for r in rows:
                out["busy"] += 1
                if r[0] == "Lock":
                    out["lock_wait"] += 1
                    key = f"wait {r[1]}: {r[2]}"
                    out[key] = out.get(key, 0) + 1
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def run_once(
    backend: str, procs: int, n: int, parents: int, pg_admin: str | None, workdir: Path
) -> dict[str, Any]:
    tag = f"{backend}_{procs}p_{n}"
    if backend == "postgres":
        assert pg_admin is not None
        url = await fresh_pg(pg_admin, f"quaero_bench_{os.getpid()}")
    else:
        url = f"sqlite:///{workdir}/{tag}.db"
    settings = Settings()
    settings.store.url = url
    env = {**os.environ, "QUAERO_DB_URL": url}
    env.pop("QUAERO_CONFIG", None)
    delays: list[float] = []
    done_parents: set[int] = set()
    locks = {"busy": 0, "lock_wait": 0}
    async with App(settings) as app:  # migrates before the workers start
        workers = [
            subprocess.Popen(
                [QUAERO, "worker", "--concurrency", "16"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(workdir / f"{tag}-w{i}.log").open("wb"),
            )
            for i in range(procs)
        ]
        stop = asyncio.Event()
        postmaster = await postmaster_pid(url) if backend == "postgres" else None
        cpu = CpuMeter([w.pid for w in workers] + [os.getpid()], postmaster)
        cpu.sample()
        before = cpu.totals()
        cpu_task = asyncio.create_task(meter(cpu, stop))
        sampler = (
            asyncio.create_task(sample_locks(url, stop, locks)) if backend == "postgres" else None
        )
        try:
            all_done = asyncio.Event()
            ids: set[int] = set()

            def on_progress(e: Event) -> None:
                delays.append(time.time() - e.created_at)
                p = e.payload
                if e.job_id in ids and p["pending_children"] == 0 and p["running_children"] == 0:
                    done_parents.add(e.job_id)
                    if done_parents >= ids:
                        all_done.set()

            app.bus.subscribe(on_progress, types=("parent_job_progress",))
            per = n // parents
            jobs = [await app.submit("fanout", {"children": per}) for _ in range(parents)]
            ids.update(j.id for j in jobs)
            await asyncio.wait_for(all_done.wait(), timeout=max(600, n / 50))
            finals = [await app.wait(j.id, timeout=120) for j in jobs]
            retries = getattr(app.store, "retries", 0)
        finally:
            stop.set()
            await cpu_task
            cpu.sample()
            if sampler is not None:
                await sampler
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(60)
        assert all(f.children.completed == per for f in finals), [f.children for f in finals]
        assert await app.store.recount() == []
    if backend == "postgres":
        assert pg_admin is not None
        conn = await asyncpg.connect(pg_admin)
        try:
            name = urlsplit(url).path.lstrip("/")
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    used = cpu.totals()
    started = min(f.created_at for f in finals)
    ended = max(f.completed_at or 0 for f in finals)
    delays.sort()
    result: dict[str, Any] = {
        "backend": backend,
        "procs": procs,
        "children": per * parents,
        "parents": parents,
        "seconds": round(ended - started, 2),
        "children_per_s": round(per * parents / (ended - started), 1),
        "progress_msgs": len(delays),
        # other work on the machine skews the throughput (not the CPU per child)
        "loadavg_1m": round(os.getloadavg()[0], 2),
        # CPU ms per child: the database server (all its processes) and quaero (workers +
        # this process); a run on a shared machine still counts only its own processes
        "db_cpu_ms_per_child": round(1000 * (used["db"] - before["db"]) / (per * parents), 3),
        "quaero_cpu_ms_per_child": round(
            1000 * (used["workers"] - before["workers"]) / (per * parents), 3
        ),
        "delay_p50_ms": round(1000 * statistics.median(delays), 1) if delays else None,
        "delay_p99_ms": round(1000 * delays[int(0.99 * (len(delays) - 1))], 1) if delays else None,
    }
    if backend == "postgres":
        result["lock_wait_share"] = round(locks["lock_wait"] / max(1, locks["busy"]), 3)
        result["bench_process_retries"] = retries
        result["lock_waits_by_query"] = {
            k: v for k, v in sorted(locks.items(), key=lambda kv: -kv[1]) if k.startswith("wait")
        }
    return result


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--children", type=int, default=100_000)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--parents", type=int, default=1)
    ap.add_argument("--backends", nargs="+", default=["postgres", "sqlite"])
    ap.add_argument("--pg-url", default=os.environ.get("QUAERO_TEST_PG_URL"))
    ap.add_argument(
        "--prefetch",
        default="auto",
        help='the workers\' claim-ahead ("auto", the default here: no-op children are short; '
        "quaero's own default is 0); empty: leave it to the settings",
    )
    args = ap.parse_args()
    if args.prefetch:
        os.environ["QUAERO_WORKER_PREFETCH"] = args.prefetch  # read by the worker processes
    if "postgres" in args.backends and not args.pg_url:
        raise SystemExit('no PostgreSQL: eval "$(scripts/pg-start.sh)" or pass --pg-url')
    results = []
    with tempfile.TemporaryDirectory(prefix="quaero-pgbench-") as d:
        for procs in args.procs:
            for backend in args.backends:
                r = await run_once(
                    backend, procs, args.children, args.parents, args.pg_url, Path(d)
                )
                print(json.dumps(r), flush=True)
                results.append(r)
    print(
        "\n| backend | procs | children | parents | children/s | progress p50 ms | p99 ms"
        " | lock-wait share | db CPU ms/child | quaero CPU ms/child |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['procs']} | {r['children']} | {r['parents']} | {r['children_per_s']} "
            f"| {r['delay_p50_ms']} | {r['delay_p99_ms']} | {r.get('lock_wait_share', '-')} "
            f"| {r['db_cpu_ms_per_child'] if r['backend'] == 'postgres' else '-'} "
            f"| {r['quaero_cpu_ms_per_child']} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
