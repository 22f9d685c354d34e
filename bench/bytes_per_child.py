"""Bytes per no-op child on the embedded SQLite store.

Runs the real CLI (``quaero run fanout --config '{"children": N}' --wait``) on a fresh
database, checkpoints the WAL, and prints the file size divided by N, then where the
bytes are (SQLite's ``dbstat``: pages per table and index, per child). Events are
included: they are what a fan-out leaves behind until ``[events] retention_hours``.

    .venv/bin/python bench/bytes_per_child.py 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

QUAERO = str(Path(sys.executable).with_name("quaero"))


def measure(n: int, concurrency: int) -> None:
    tmp = tempfile.mkdtemp(prefix="quaero-bytes-")
    db = os.path.join(tmp, "bench.db")
    proc = subprocess.run(
        [QUAERO, "--db", f"sqlite:///{db}", "run", "fanout", "--config",
         json.dumps({"children": n}), "--wait", "--json", "--concurrency", str(concurrency)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"quaero run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = os.path.getsize(db)
    counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("jobs", "job_logs", "events")}  # fmt: skip
    print(f"children: {n}  file: {size / 1e6:.1f} MB  bytes per child: {size / n:.0f}")
    print("rows: " + ", ".join(f"{t} {c:,}" for t, c in counts.items()))
    print(f"{'table or index':<28} {'bytes/child':>11} {'payload':>9} {'unused':>8}")
    rows = conn.execute(
        "SELECT name, SUM(pgsize), SUM(payload), SUM(unused) FROM dbstat"
        " GROUP BY name ORDER BY SUM(pgsize) DESC"
    ).fetchall()
    for name, pg, payload, unused in rows:
        if pg / n >= 0.5:
            print(f"{name:<28} {pg / n:>11.1f} {payload / n:>9.1f} {unused / n:>8.1f}")
    conn.close()
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", type=int, nargs="*", default=[100_000])
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    for n in args.n:
        measure(n, args.concurrency)


if __name__ == "__main__":
    main()
