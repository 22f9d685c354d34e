"""Retention soak: cycles of a fan-out then ``quaero db prune --older-than 0``.

Each cycle runs the real CLI: ``quaero run fanout --config '{"children": N}' --wait``,
then ``quaero db prune --older-than 0`` (with ``QUAERO_EVENTS_RETENTION_HOURS`` set to a
few seconds, so the cycle's events go too: they are kept 24 h by default). After each
cycle it prints the database size before and after the prune (main file; and the WAL)
and the fan-out's children/s. The
size should plateau (pruned pages are reused, and incremental auto-vacuum gives free
ones back) and the speed should not fall.

    .venv/bin/python bench/retention_soak.py --cycles 20 --children 50000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUAERO = str(Path(sys.executable).with_name("quaero"))


def _ts(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--children", type=int, default=50_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--db", help="store file (default: a new temporary one)")
    args = ap.parse_args()
    db = args.db or os.path.join(tempfile.mkdtemp(prefix="quaero-soak-"), "soak.db")
    env = {**os.environ, "QUAERO_EVENTS_RETENTION_HOURS": "0.001"}
    base = [QUAERO, "--db", f"sqlite:///{db}"]
    print("cycle,children_per_s,prune_s,pruned_jobs,db_mb_before_prune,db_mb,wal_mb", flush=True)
    for cycle in range(1, args.cycles + 1):
        run = subprocess.run(
            [*base, "run", "fanout", "--config", json.dumps({"children": args.children}),
             "--wait", "--json", "--concurrency", str(args.concurrency)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if run.returncode != 0:
            raise SystemExit(f"fanout failed: {run.stderr[-2000:]}")
        job = json.loads(run.stdout)
        rate = args.children / (_ts(job["completed_at"]) - _ts(job["created_at"]))
        peak = os.path.getsize(db) / 1e6
        time.sleep(4)  # past the events' retention (3.6 s) so the prune takes them too
        t0 = time.perf_counter()
        prune = subprocess.run(
            [*base, "db", "prune", "--older-than", "0", "--json"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        took = time.perf_counter() - t0
        if prune.returncode != 0:
            raise SystemExit(f"prune failed: {prune.stderr[-2000:]}")
        pruned = json.loads(prune.stdout)["jobs"]
        wal = db + "-wal"
        wal_mb = os.path.getsize(wal) / 1e6 if os.path.exists(wal) else 0.0
        print(
            f"{cycle},{rate:.0f},{took:.2f},{pruned},{peak:.1f},"
            f"{os.path.getsize(db) / 1e6:.1f},{wal_mb:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
