"""Fan-out benchmark: ``quaero run fanout`` with N no-op children on embedded SQLite.

Runs the real CLI in a subprocess (``quaero run fanout --wait``: the worker pool runs
in-process), then reads the children's timestamps from the store and prints:

- total seconds (CLI start to exit) and children/s (N / seconds from the parent's
  creation to its completion);
- the time per child status change in the first 10 % vs the last 10 % of the run (their
  ratio shows whether cost grows with the number of children; flat is <= 1.2);
- the peak RSS of the CLI process.

    .venv/bin/python bench/fanout.py 10000 100000 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUAERO = str(Path(sys.executable).with_name("quaero"))


def run_once(n: int, concurrency: int, keep: bool) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="quaero-bench-")
    db = os.path.join(tmp, "bench.db")
    config = json.dumps({"children": n})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            QUAERO,
            "--db",
            f"sqlite:///{db}",
            "run",
            "fanout",
            "--config",
            config,
            "--wait",
            "--json",
            "--concurrency",
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"quaero run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    job = json.loads(proc.stdout)
    assert job["children"]["completed"] == n, job["children"]
    conn = sqlite3.connect(db)
    parent = conn.execute(
        "SELECT created_at, completed_at FROM jobs WHERE id = ?", (job["id"],)
    ).fetchone()
    done = [
        r[0]
        for r in conn.execute(
            "SELECT completed_at FROM jobs WHERE parent_id = ? ORDER BY completed_at", (job["id"],)
        )
    ]
    drift = conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE parent_id = ? AND status != 'completed'", (job["id"],)
    ).fetchone()[0]
    conn.close()
    k = max(1, n // 10)
    # time per child over the first and last 10 % of completions
    first = (done[k] - done[0]) / k
    last = (done[-1] - done[-1 - k]) / k
    # the same away from the run's start (spawning) and end (draining): deciles 2 and 9
    d2 = (done[2 * k] - done[k]) / k
    d9 = (done[9 * k] - done[8 * k]) / k
    seconds = parent[1] - parent[0]
    result = {
        "n": n,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "parent_s": round(seconds, 3),
        "children_per_s": round(n / seconds, 1),
        "first10_ms_per_child": round(first * 1000, 4),
        "last10_ms_per_child": round(last * 1000, 4),
        "last_over_first": round(last / first, 3) if first else float("nan"),
        "d9_over_d2": round(d9 / d2, 3) if d2 else float("nan"),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
        "not_completed": drift,
    }
    if not keep:
        shutil.rmtree(tmp)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the database files")
    args = ap.parse_args()
    print(
        "n,concurrency,parent_s,children_per_s,first10_ms,last10_ms,ratio,"
        "decile9_over_decile2,peak_rss_mb,cpu_s,wall_s"
    )
    for n in args.n:
        for c in args.concurrency:
            for _ in range(args.reps):
                r = run_once(n, c, args.keep)
                print(
                    f"{r['n']},{r['concurrency']},{r['parent_s']},{r['children_per_s']},"
                    f"{r['first10_ms_per_child']},{r['last10_ms_per_child']},{r['last_over_first']},"
                    f"{r['d9_over_d2']},"
                    f"{r['peak_rss_mb']},{r['cpu_s']},{r['wall_s']}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
