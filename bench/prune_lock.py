"""The pruner's longest hold of SQLite's write lock.

Builds a store with a fan-out of N no-op children (the real CLI), then prunes it in
this process with :class:`quaero.jobs.retention.Pruner` (children first with
``--children-only``, then the whole tree) while a writer keeps adding log lines, and
prints, for each prune, the writer's longest transaction under the write lock (BEGIN
IMMEDIATE to COMMIT, including any other operation committed in the same transaction),
its longest COMMIT (which can include the automatic WAL checkpoint SQLite runs once the
lock is released), the longest prune step as the caller waited for it, and the prune's
duration; then the same for the incremental vacuum steps that free the pages.

    .venv/bin/python bench/prune_lock.py 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quaero.config import RetentionSettings
from quaero.jobs.retention import Pruner
from quaero.store.base import LogEntry
from quaero.store.sqlite import SqliteStore

QUAERO = str(Path(sys.executable).with_name("quaero"))


async def prune(db: str, children_only: bool, chunk: int) -> None:
    store = SqliteStore(f"sqlite:///{db}")
    await store.open()
    busy = True

    async def other_writes() -> None:  # a worker's log lines, meanwhile
        while busy:
            await store.add_logs([LogEntry(1, "info", "tick", time.time())], publish=False)
            await asyncio.sleep(0.002)

    try:
        store.reset_longest_write_lock()
        ticker = asyncio.create_task(other_writes())
        pruner = Pruner(store, RetentionSettings(), chunk=chunk)
        t0 = time.perf_counter()
        report = await pruner.run_once(
            older_than=0, children_only=children_only, now=time.time() + 1
        )
        took = time.perf_counter() - t0
        busy = False
        await ticker
        what = "children only" if children_only else "whole tree"
        print(
            f"{what:<13}  jobs {report.jobs:>7,}  {took:6.2f} s  "
            f"longest step {pruner.longest_step * 1000:6.1f} ms  "
            f"longest transaction {store.longest_write_lock[0] * 1000:6.1f} ms"
            f" + commit {store.longest_write_lock[1] * 1000:6.1f} ms",
            flush=True,
        )
        store.reset_longest_write_lock()
        t0 = time.perf_counter()
        freed = await store.vacuum()
        print(
            f"{'vacuum steps':<13}  {freed / 1e6:9.1f} MB freed  {time.perf_counter() - t0:6.2f} s"
            f"  longest transaction {store.longest_write_lock[0] * 1000:6.1f} ms"
            f" + commit {store.longest_write_lock[1] * 1000:6.1f} ms",
            flush=True,
        )
    finally:
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", type=int, nargs="?", default=100_000)
    ap.add_argument("--chunk", type=int, default=500, help="jobs per prune transaction")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="quaero-prune-")
    db = os.path.join(tmp, "bench.db")
    subprocess.run(
        [QUAERO, "--db", f"sqlite:///{db}", "run", "fanout", "--config",
         json.dumps({"children": args.n}), "--wait", "--json"],
        capture_output=True, check=True,
    )  # fmt: skip
    print(f"children: {args.n:,}  chunk: {args.chunk} jobs per transaction")
    asyncio.run(prune(db, True, args.chunk))
    asyncio.run(prune(db, False, args.chunk))


if __name__ == "__main__":
    main()
