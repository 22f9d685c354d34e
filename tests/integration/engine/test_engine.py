"""The job engine on a real SQLite store: workers, retries, leases, cancel, events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from quaero import (
    App,
    Event,
    InvalidJobSpec,
    InvalidTransition,
    JobContext,
    JobNotFound,
    JobStatus,
    NewJob,
)
from quaero.errors import PermanentJobError
from quaero.jobs.models import StatusChange
from quaero.store.base import JobQuery, LogQuery

from .conftest import make_settings


async def until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await pred():
            await asyncio.sleep(0.02)


async def test_fanout_completes_with_exact_counters_and_events(app: App) -> None:
    progress: list[Event] = []
    app.bus.subscribe(progress.append, types=("parent_job_progress",))
    w = app.worker(concurrency=8)
    await w.start()
    job = await app.submit("fanout", {"children": 500})
    job = await app.wait(job.id, timeout=30)
    await w.stop()
    assert job.status is JobStatus.COMPLETED
    assert job.children.as_dict() == {
        "total": 500,
        "pending": 0,
        "running": 0,
        "completed": 500,
        "failed": 0,
        "cancelled": 0,
    }
    assert await app.store.recount() == []
    await until(lambda: _async(bool(progress) and progress[-1].payload["pending_children"] == 0))
    final = progress[-1].payload
    assert final["progress_text"] == "0 pending, 0 running, 500 completed, 0 failed"
    assert final["status"] == "completed" and final["job_id"] == job.id
    seqs = [e.seq for e in progress]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def _async(v: bool) -> bool:
    return v


async def test_works_with_no_subscribers_and_no_worker(app: App) -> None:
    job = await app.submit("fanout", {"children": 0})
    assert job.status is JobStatus.PENDING
    got = await app.manager.update_job_status(job.id, JobStatus.RUNNING)
    assert got.status is JobStatus.RUNNING and got.started_at is not None
    got = await app.manager.update_job_status(job.id, "completed")
    assert got.children.total == 0
    assert got.status is JobStatus.COMPLETED and got.completed_at is not None


async def test_illegal_transition_and_unknown_ids_change_nothing(app: App) -> None:
    job = await app.submit("noop", {})
    (first, last) = await app.store.event_bounds()
    with pytest.raises(InvalidTransition, match="pending -> completed"):
        await app.manager.update_job_status(job.id, JobStatus.COMPLETED)
    with pytest.raises(JobNotFound, match="job 424242 not found"):
        await app.manager.update_job_status(424242, JobStatus.RUNNING)
    with pytest.raises(JobNotFound):
        await app.manager.cancel(424242)
    assert (await app.store.get_job(job.id)).status is JobStatus.PENDING  # type: ignore[union-attr]
    assert await app.store.event_bounds() == (first, last)


async def test_malformed_config_is_refused(app: App) -> None:
    with pytest.raises(InvalidJobSpec, match="children must be an integer"):
        await app.submit("fanout", {"children": -1})
    with pytest.raises(InvalidJobSpec, match="unknown job type 'nope'"):
        await app.submit("nope", {})
    with pytest.raises(InvalidJobSpec, match="unknown noop option"):
        await app.submit("noop", {"sleep": 1})
    page = await app.store.list_jobs(__import__("quaero.store", fromlist=["JobQuery"]).JobQuery())
    assert page.total == 0


async def test_retries_with_backoff_then_fails_with_error(app: App) -> None:
    calls: list[int] = []

    @app.job("flaky", max_attempts=3)
    async def flaky(ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        raise ValueError(f"bad attempt {ctx.attempt}")

    w = app.worker(concurrency=2)
    await w.start()
    job = await app.submit("flaky", {})
    job = await app.wait(job.id, timeout=10)
    await w.stop()
    assert calls == [1, 2, 3]
    assert job.status is JobStatus.FAILED and job.attempts == 3
    assert job.error == "ValueError: bad attempt 3"
    from quaero.store import LogQuery

    msgs = [e.message for e in await app.store.read_logs(LogQuery(job.id))]
    assert sum(m.startswith("Attempt") for m in msgs) == 3
    assert msgs[-1] == "Status changed: failed"


async def test_retry_then_success(app: App) -> None:
    @app.job("second_time_lucky")
    async def lucky(ctx: JobContext) -> dict[str, int]:
        if ctx.attempt < 2:
            raise RuntimeError("not yet")
        return {"attempt": ctx.attempt}

    w = app.worker()
    await w.start()
    job = await app.wait((await app.submit("second_time_lucky")).id, timeout=10)
    await w.stop()
    assert job.status is JobStatus.COMPLETED and job.result == {"attempt": 2}


async def test_expired_lease_requeues_and_another_worker_finishes(app: App) -> None:
    job = await app.submit("noop", {})
    # a worker that claims and then dies (never heartbeats, never finishes)
    (claimed,) = await app.manager.claim("dead-worker", 1, 0.2, ["noop"])
    assert claimed.id == job.id and claimed.attempts == 1
    w = app.worker(concurrency=1, lease_seconds=1.0)
    await w.start()
    job = await app.wait(job.id, timeout=10)
    await w.stop()
    assert job.status is JobStatus.COMPLETED and job.attempts == 2
    from quaero.store import LogQuery

    msgs = [e.message for e in await app.store.read_logs(LogQuery(job.id))]
    assert "Status changed: pending (lease expired)" in msgs


async def test_cancel_stops_pending_and_interrupts_running(app: App) -> None:
    started: list[int] = []
    interrupted: list[int] = []

    @app.job("slow")
    async def slow(ctx: JobContext) -> None:
        started.append(ctx.id)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            interrupted.append(ctx.id)
            raise

    @app.job("parent")
    async def parent(ctx: JobContext) -> None:
        await ctx.spawn(NewJob("slow") for _ in range(20))

    w = app.worker(concurrency=4)
    await w.start()
    root = await app.submit("parent")
    await until(lambda: _async(len(started) == 4))
    n = await app.manager.cancel(root.id)
    assert n == 21  # the parent and its 20 children
    await until(lambda: _async(len(interrupted) == 4))
    root = await app.wait(root.id, timeout=5)
    await w.stop()
    assert root.status is JobStatus.CANCELLED
    assert root.children.as_dict() == {
        "total": 20,
        "pending": 0,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 20,
    }
    assert len(started) == 4  # queued children never started
    assert await app.store.recount() == []


async def test_graceful_shutdown_releases_unfinished_jobs(app: App) -> None:
    gate = asyncio.Event()

    @app.job("blocker")
    async def blocker(ctx: JobContext) -> None:
        gate.set()
        await asyncio.sleep(60)

    job = await app.submit("blocker")
    w = app.worker(concurrency=1, shutdown_timeout=0.2)
    await w.start()
    await asyncio.wait_for(gate.wait(), 5)
    await w.stop()
    job = await app.store.get_job(job.id)  # type: ignore[assignment]
    assert job.status is JobStatus.PENDING and job.attempts == 0 and job.lease_owner is None


async def test_hurry_releases_running_jobs_without_waiting_the_shutdown_timeout(
    app: App,
) -> None:
    """A second interrupt (``Worker.hurry``) during a graceful stop releases the jobs
    still running at once, as the end of the shutdown timeout would."""
    gate = asyncio.Event()
    finished: list[int] = []

    @app.job("blocker")
    async def blocker(ctx: JobContext) -> None:
        gate.set()
        await asyncio.sleep(60)

    @app.job("quick")
    async def quick(ctx: JobContext) -> None:
        finished.append(ctx.job.id)

    job = await app.submit("blocker")
    w = app.worker(concurrency=2, shutdown_timeout=300.0)
    await w.start()
    await asyncio.wait_for(gate.wait(), 5)
    stopping = asyncio.ensure_future(w.stop())

    async def stopping_started() -> bool:
        return w._stopping

    await until(stopping_started)
    assert not stopping.done()  # waiting for the blocker, up to 300 s
    w.hurry()
    await asyncio.wait_for(stopping, 30)
    job = await app.store.get_job(job.id)  # type: ignore[assignment]
    assert job.status is JobStatus.PENDING and job.attempts == 0 and job.lease_owner is None
    assert finished == []  # stopping: it claimed nothing more
    assert await app.store.recount() == []


async def test_nested_tree_rolls_status_up(app: App) -> None:
    @app.job("mid")
    async def mid(ctx: JobContext) -> None:
        await ctx.spawn(NewJob("noop") for _ in range(3))

    @app.job("top")
    async def top(ctx: JobContext) -> None:
        await ctx.spawn(NewJob("mid") for _ in range(2))

    w = app.worker(concurrency=4)
    await w.start()
    root = await app.wait((await app.submit("top")).id, timeout=10)
    await w.stop()
    assert root.status is JobStatus.COMPLETED
    assert root.children.as_dict()["completed"] == 2  # direct children only
    assert await app.store.recount() == []


async def test_child_failure_makes_parent_failed_in_db_and_payload(app: App) -> None:
    w = app.worker(concurrency=4)
    await w.start()
    root = await app.submit(
        "fanout", {"children": 20, "child_config": {"fail_rate": 1.0}, "child_max_attempts": 1}
    )
    root = await app.wait(root.id, timeout=10)
    await w.stop()
    assert root.status is JobStatus.FAILED
    assert root.children.failed == 20
    events = await app.store.read_events(
        0, 100_000, types=("parent_job_progress",), job_ids=(root.id,)
    )
    assert events[-1].payload["status"] == "failed"


async def test_subscriber_resumes_from_seq_with_no_gap_or_duplicate(app: App) -> None:
    w = app.worker(concurrency=8)
    await w.start()
    job = await app.submit("fanout", {"children": 200})
    seen_live: list[int] = []
    sub = app.bus.subscribe(lambda e: seen_live.append(e.seq))
    await until(lambda: _async(len(seen_live) > 50))
    await sub.close()
    last = seen_live[-1]
    await app.wait(job.id, timeout=20)
    await w.stop()
    # reconnect with the last seq seen: replay then live
    resumed: list[int] = []
    sub2 = app.bus.subscribe(lambda e: resumed.append(e.seq), after_seq=last)
    end = (await app.store.event_bounds())[1]
    await until(lambda: _async(bool(resumed) and resumed[-1] == end))
    await sub2.close()
    assert resumed == list(range(last + 1, end + 1))
    all_seqs = seen_live + resumed
    assert all_seqs == list(range(seen_live[0], end + 1))


async def test_events_from_another_process_reach_the_bus(tmp_path: Path) -> None:
    """Two App instances on one SQLite file: the second sees the first's commits in order."""
    async with App(make_settings(tmp_path)) as a, App(make_settings(tmp_path)) as b:
        got: list[Event] = []
        b.bus.subscribe(got.append, types=("job_status_change",))
        job = await a.submit("noop")
        await a.manager.update_job_status(job.id, JobStatus.RUNNING)
        await a.manager.update_job_status(job.id, JobStatus.COMPLETED)
        await until(lambda: _async(len(got) == 2))
        assert [e.payload["status"] for e in got] == ["running", "completed"]


async def test_lost_lease_change_is_refused(app: App) -> None:
    job = await app.submit("noop")
    await app.manager.claim("w1", 1, 30, ["noop"])
    (res,) = await app.manager.apply([StatusChange(job.id, JobStatus.COMPLETED, expect_owner="w2")])
    assert not res.ok and "lease no longer held" in str(res.error)


async def test_event_retention_prunes_old_events(app: App) -> None:
    for _ in range(3):
        await app.submit("noop")
    first, last = await app.store.event_bounds()
    n = await app.store.prune_events(older_than=10**12)
    assert n == last - first  # all but the newest
    assert await app.store.event_bounds() == (last, last)


async def test_spawn_budget_is_enforced_by_the_store_under_racing_spawns(app: App) -> None:
    root = await app.submit("noop")
    await app.manager.update_job_status(root.id, JobStatus.RUNNING)

    async def spawn(start: int) -> Any:
        return await app.store.spawn_children(
            [
                NewJob("noop", parent_id=root.id, dedupe_key=f"k{i % 150}")
                for i in range(start, start + 100)
            ],
            max_children=120,
        )

    results = await asyncio.gather(*(spawn(s) for s in range(0, 800, 100)))
    job = await app.store.get_job(root.id)
    assert job is not None and job.children.total == 120  # never exceeded
    created = sum(len(r.created) for r in results)
    assert created == 120
    assert sum(r.duplicates + r.over_budget for r in results) == 800 - 120
    assert await app.store.recount() == []


async def test_job_stats_are_counted_and_shown(app: App) -> None:
    job = await app.submit("noop")
    await app.store.add_job_stats(job.id, {"skipped_robots": 2, "skipped_budget": 1})
    await app.store.add_job_stats(job.id, {"skipped_robots": 3})
    got = await app.store.get_job(job.id)
    assert got is not None and got.stats == {"skipped_robots": 5, "skipped_budget": 1}
    with pytest.raises(JobNotFound):
        await app.store.add_job_stats(999_999, {"x": 1})


async def test_retry_job_and_permanent_errors(app: App) -> None:
    from quaero.errors import PermanentJobError, RetryJob

    attempts: dict[str, list[int]] = {"retry": [], "perm": []}

    @app.job("asks_retry")
    async def asks_retry(ctx: JobContext) -> None:
        attempts["retry"].append(ctx.attempt)
        if ctx.attempt == 1:
            raise RetryJob("429 Too Many Requests", delay=0.05)

    @app.job("perm")
    async def perm(ctx: JobContext) -> None:
        attempts["perm"].append(ctx.attempt)
        raise PermanentJobError("http_404: Not Found")

    w = app.worker()
    await w.start()
    a = await app.wait((await app.submit("asks_retry")).id, timeout=10)
    b = await app.wait((await app.submit("perm")).id, timeout=10)
    await w.stop()
    assert a.status is JobStatus.COMPLETED and attempts["retry"] == [1, 2]
    assert b.status is JobStatus.FAILED and attempts["perm"] == [1]
    assert b.error == "http_404: Not Found"


async def test_descendants_roll_up_a_fanout_of_fanouts(app: App) -> None:
    """Issue 9's check: a fanout of 10 fanouts of 100 -> 1010 descendants at the root."""
    progress: list[Event] = []
    app.bus.subscribe(progress.append, types=("parent_job_progress",))
    w = app.worker(concurrency=16)
    await w.start()
    job = await app.submit(
        "fanout", {"children": 10, "child_type": "fanout", "child_config": {"children": 100}}
    )
    job = await app.wait(job.id, timeout=120)
    await w.stop()
    assert job.status is JobStatus.COMPLETED
    assert job.children.as_dict()["completed"] == 10  # the seed's counters: direct children
    want = {"total": 1010, "pending": 0, "running": 0, "completed": 1010, "failed": 0,
            "cancelled": 0}  # fmt: skip
    assert job.descendants.as_dict() == want
    assert await app.store.recount() == []
    await until(
        lambda: _async(
            any(e.job_id == job.id and e.payload["descendants"] == want for e in progress)
        )
    )
    final = [e.payload for e in progress if e.job_id == job.id][-1]
    assert final["descendants"] == want and final["total_children"] == 10
    assert (final["rate"], final["eta_seconds"]) == (0.0, 0.0)


@pytest.mark.parametrize("how", ["exception_at_last_attempt", "permanent_error"])
async def test_a_failing_handler_takes_its_running_children_with_it(app: App, how: str) -> None:
    """The failure rule on the worker's paths: the parent's failure and its children's
    cancellation are one transaction (log reason ``parent N failed``); the running
    children are interrupted and nothing below the parent starts again."""
    started: list[int] = []

    @app.job("slow_child")
    async def slow_child(ctx: JobContext) -> None:
        started.append(ctx.job.id)
        await asyncio.sleep(30)

    @app.job("spawn_then_fail", max_attempts=1)
    async def spawn_then_fail(ctx: JobContext) -> None:
        await ctx.spawn(NewJob("slow_child", dedupe_key=str(i)) for i in range(3))
        while len(started) < 2:  # some children run, some may still be pending
            await asyncio.sleep(0.02)
        if how == "permanent_error":
            raise PermanentJobError("giving up")
        raise RuntimeError("boom")

    w = app.worker(concurrency=3)
    await w.start()
    try:
        job = await app.submit("spawn_then_fail")
        job = await app.wait(job.id, timeout=30)
        page = await app.store.list_jobs(JobQuery(parent_id=job.id))
        await until(lambda: _async(w.active == 0))
    finally:
        await w.stop()
    assert job.status is JobStatus.FAILED
    assert [k.status for k in page.items] == [JobStatus.CANCELLED] * 3
    for k in page.items:
        logs = [e.message for e in await app.store.read_logs(LogQuery(k.id))]
        assert logs[-1] == f"Status changed: cancelled (parent {job.id} failed)"
    assert len(started) <= 3 and len(set(started)) == len(started)  # none started again


async def test_unbounded_nesting_stops_at_max_depth_with_a_clear_error(app: App) -> None:
    from quaero.jobs.planner import TreeLimits

    app.store.tree_limits = TreeLimits(max_depth=2)
    config: dict[str, Any] = {"children": 1}
    for _ in range(4):  # fanouts of fanouts, deeper than the limit
        config = {"children": 1, "child_type": "fanout", "child_config": config}
    w = app.worker(concurrency=4)
    await w.start()
    root = await app.wait((await app.submit("fanout", config)).id, timeout=20)
    await w.stop()
    assert root.status is JobStatus.FAILED
    page = await app.store.list_jobs(JobQuery(statuses=[JobStatus.FAILED]))
    deepest = max(page.items, key=lambda j: j.depth)
    assert deepest.depth == 2 and deepest.attempts == 1  # not retried: it cannot succeed
    assert "max_depth = 2" in (deepest.error or "")
    assert await app.store.recount() == []


async def test_results_and_progress_with_huge_integers_are_stored(app: App) -> None:
    """A handler's outcome is always storable: integers beyond 64 bits become strings
    (before: the worker's flush failed forever, and its whole batch with it)."""

    @app.job("big")
    async def big(ctx: JobContext) -> dict[str, Any]:
        await ctx.progress(2**70, 2**71, "huge")
        return {"n": 2**70, "ok": 1, "nested": [-(2**64)]}

    w = app.worker(concurrency=2)
    await w.start()
    job = await app.wait((await app.submit("big")).id, timeout=20)
    other = await app.wait((await app.submit("noop")).id, timeout=20)
    await w.stop()
    assert job.status is JobStatus.COMPLETED and other.status is JobStatus.COMPLETED
    assert job.result == {"n": str(2**70), "ok": 1, "nested": [str(-(2**64))]}


async def test_nul_characters_are_refused_in_input_and_replaced_in_output(app: App) -> None:
    """PostgreSQL cannot store NUL: a job spec holding one is refused (422 in the API);
    what handlers report (log lines, errors, results, progress) keeps U+FFFD instead."""

    @app.job("nul")
    async def nul(ctx: JobContext) -> dict[str, Any]:
        ctx.log("log a\x00b")
        await ctx.progress(1, 2, "prog a\x00b")
        return {"s": "a\x00b", "k\x00": 1}

    @app.job("nulfail")
    async def nulfail(ctx: JobContext) -> None:
        raise PermanentJobError("boom a\x00b")

    for bad in ({"name": "a\x00b"}, {"config": {"x": "a\x00b"}}, {"config": {"a\x00": 1}}):
        with pytest.raises(InvalidJobSpec, match="NUL"):
            await app.manager.create_job("nul", bad.get("config", {}), bad.get("name", ""))
    w = app.worker(concurrency=2)
    await w.start()
    job = await app.wait((await app.submit("nul")).id, timeout=20)
    bad_job = await app.wait((await app.submit("nulfail")).id, timeout=20)
    await w.stop()
    assert job.status is JobStatus.COMPLETED
    assert job.result == {"s": "a\ufffdb", "k\ufffd": 1}
    assert bad_job.status is JobStatus.FAILED and bad_job.error == "boom a\ufffdb"
    logs = await app.store.read_logs(LogQuery(job.id))
    assert "log a\ufffdb" in [e.message for e in logs]
