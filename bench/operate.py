"""Operating a big job tree: retry in place of N failed children, and error-group reads.

Builds a parent with N children that all failed, with errors spread over G error groups
(``ValueError: row <n> of <str>`` style messages with numbers and quoted values, so each
group's key comes out of the normaliser), through the store as a worker pool would
(claims and failures in batches). Then prints:

- ``errors_read_ms``: ``GET /api/jobs/{id}/errors``'s read (``store.error_groups``),
  median of 50 reads (O(groups): it must not grow with N);
- ``retry_s`` and ``retry_rows_per_s``: ``app.retry(parent, children="failed")`` (one
  call; chunks of ``BULK_CHUNK`` jobs per transaction), and how many
  ``parent_job_progress`` events the parent got for it (one per commit);
- that the counters equal a recount afterwards.

    .venv/bin/python bench/operate.py 100000 --groups 50
    .venv/bin/python bench/operate.py 100000 --db postgresql://user@host/db   # empty db
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from quaero import App, Settings
from quaero.jobs.manager import BULK_CHUNK
from quaero.jobs.models import JobStatus, NewJob, StatusChange

BATCH = 5000


async def build(app: App, n: int, groups: int) -> int:
    store = app.store
    [root] = await store.create_jobs([NewJob("fanout", name="bench-operate")])
    await store.claim_jobs("bench", 1, 3600, ["fanout"])
    for i in range(0, n, BATCH):
        await store.create_jobs(
            [NewJob("noop", parent_id=root.id) for _ in range(min(BATCH, n - i))]
        )
    await store.apply_changes(
        [StatusChange(root.id, JobStatus.COMPLETED, expect_owner="bench", handler_done=True)]
    )
    done = 0
    while done < n:
        claimed = await store.claim_jobs("bench", BATCH, 3600, ["noop"])
        if not claimed:
            break
        await store.apply_changes(
            [
                StatusChange(
                    j.id,
                    JobStatus.FAILED,
                    error=f"Error{j.id % groups}: row {j.id} of 'part-{j.id}.csv' is bad",
                    expect_owner="bench",
                )
                for j in claimed
            ]
        )
        done += len(claimed)
    return root.id


async def run(n: int, groups: int, db: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="quaero-bench-") as tmp:
        settings = Settings()
        settings.store.url = db or f"sqlite:///{tmp}/bench.db"
        async with App(settings) as app:
            t0 = time.perf_counter()
            root = await build(app, n, groups)
            build_s = time.perf_counter() - t0
            parent = await app.store.get_job(root)
            assert parent is not None and parent.status is JobStatus.FAILED, parent
            assert parent.children.failed == n, parent.children

            reads = []
            for _ in range(50):
                t = time.perf_counter()
                got = await app.store.error_groups(root)
                reads.append(time.perf_counter() - t)
            assert len(got) == groups and sum(g.count for g in got) == n, got[:3]

            seq = app.bus.last_seq
            t = time.perf_counter()
            result = await app.retry(root, "failed")
            retry_s = time.perf_counter() - t
            assert result.changed == n, result
            events = await app.store.read_events(seq, 1_000_000, types=["parent_job_progress"])
            per_root = sum(1 for e in events if e.job_id == root)
            after = await app.store.get_job(root)
            assert after is not None and after.status is JobStatus.RUNNING
            assert after.children.pending == n and after.descendants.pending == n
            assert await app.store.error_groups(root) == []
            drift = await app.store.recount()
    print(
        "backend,n,groups,build_s,errors_read_ms_median,errors_read_ms_max,retry_s,"
        "retry_rows_per_s,chunks,root_progress_events,drift"
    )
    print(
        f"{settings.store.url.split(':')[0]},{n},{groups},{build_s:.1f},"
        f"{statistics.median(reads) * 1000:.3f},{max(reads) * 1000:.3f},{retry_s:.2f},"
        f"{n / retry_s:.0f},{-(-n // BULK_CHUNK)},{per_root},{len(drift)}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("n", type=int, nargs="?", default=100_000)
    ap.add_argument("--groups", type=int, default=50)
    ap.add_argument("--db", help="store URL (default: a temporary SQLite file)")
    args = ap.parse_args()
    asyncio.run(run(args.n, args.groups, args.db))


if __name__ == "__main__":
    main()
