"""Where one process's CPU goes in an embedded-SQLite fan-out (issue 13, item 2).

Runs ``fanout`` with N no-op children in THIS process (an App on a fresh SQLite file and
one worker pool of C slots), then prints per child: wall time, process CPU, the writer
thread's CPU by part (each store operation, BEGIN, COMMIT, the hand-off to the event
loop) and the event loop thread's CPU, plus transactions and operations per child.

    .venv/bin/python bench/sqlite_profile.py 10000 --concurrency 8 32

Thread CPU comes from /proc/self/task/<tid>/stat (Linux), the writer's parts from its
opt-in profile (``Writer.profile``; two clock reads per part).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time

from quaero import App

_TICK = os.sysconf("SC_CLK_TCK")


def _thread_cpu(name_prefix: str) -> float:
    """CPU seconds of this process's threads whose name starts with ``name_prefix``."""
    total = 0.0
    for t in threading.enumerate():
        if t.name.startswith(name_prefix) and t.native_id is not None:
            with open(f"/proc/self/task/{t.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


async def one(n: int, concurrency: int) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="quaero-prof-")
    try:
        app = App(db=f"sqlite:///{tmp}/prof.db")
        async with app:
            store = app.store
            writer = store._writer  # type: ignore[attr-defined]
            worker = app.worker(concurrency=concurrency)
            await worker.start()
            # warm up: imports, statement cache, first claims
            await app.wait((await app.submit("fanout", {"children": 100})).id, timeout=60)
            commits0, ops0 = store.writer_stats  # type: ignore[attr-defined]
            writer.profile = {}
            w0 = _thread_cpu("quaero-sqlite-writer")
            m0 = time.thread_time()
            p0 = time.process_time()
            t0 = time.perf_counter()
            job = await app.submit("fanout", {"children": n})
            final = await app.wait(job.id, timeout=600)
            wall = time.perf_counter() - t0
            cpu = time.process_time() - p0
            main = time.thread_time() - m0
            wcpu = _thread_cpu("quaero-sqlite-writer") - w0
            prof, writer.profile = writer.profile, None
            commits, ops = store.writer_stats  # type: ignore[attr-defined]
            await worker.stop()
        assert final.children.completed == n, final.children
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "children/s": n / wall,
        "process CPU us/child": cpu / n * 1e6,
        "loop thread us/child": main / n * 1e6,
        "writer thread us/child": wcpu / n * 1e6,
        "transactions/child": (commits - commits0) / n,
        "operations/child": (ops - ops0) / n,
    }
    for part, sec in sorted(prof.items(), key=lambda kv: -kv[1]):
        out[f"  writer: {part}"] = sec / n * 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    args = ap.parse_args()
    for c in args.concurrency:
        r = asyncio.run(one(args.n, c))
        print(f"== {args.n} children, {c} slots")
        for k, v in r.items():
            print(f"{k:32} {v:10.2f}")


if __name__ == "__main__":
    main()
