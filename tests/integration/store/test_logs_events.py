"""Store contract: job logs, the durable event log (replay, bounds, pruning), on_commit."""

from __future__ import annotations

import time

import pytest

from quaero.errors import InvalidJobSpec, JobNotFound
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.base import LogEntry, LogQuery, Store

from .conftest import Recorder
from .helpers import children, complete, running_root


async def test_logs_filters_cursor_and_aggregation(store: Store, recorder: Recorder) -> None:
    root = await running_root(store)
    [kid] = await children(store, root, 1)
    now = time.time()
    await store.add_logs(
        [
            LogEntry(root.id, "debug", "d1", now),
            LogEntry(root.id, "warning", "w1", now),
            LogEntry(kid.id, "error", "e1", now),
            LogEntry(10**9, "info", "dropped: no such job", now),
        ]
    )
    log_events = [
        e for e in recorder.events if e.type == "log" and e.payload["message"] in ("d1", "w1", "e1")
    ]
    assert [e.payload["message"] for e in log_events] == ["d1", "w1", "e1"]
    assert log_events[2].job_id == kid.id
    own = await store.read_logs(LogQuery(root.id))
    messages = [entry.message for entry in own]
    assert messages[-2:] == ["d1", "w1"] and "e1" not in messages
    warn = await store.read_logs(LogQuery(root.id, min_level="warning"))
    assert [entry.message for entry in warn] == ["w1"]
    agg = await store.read_logs(LogQuery(root.id, min_level="warning", aggregated=True))
    assert [entry.message for entry in agg] == ["w1", "e1"]
    newest = await store.read_logs(LogQuery(root.id, descending=True, limit=2))
    assert [entry.message for entry in newest] == ["w1", "d1"]
    older = await store.read_logs(
        LogQuery(root.id, descending=True, limit=100, cursor=newest[-1].id)
    )
    assert [entry.id for entry in older] == sorted((entry.id for entry in older), reverse=True)
    assert all(entry.id < newest[-1].id for entry in older)
    assert "d1" not in [entry.message for entry in older]
    # a subtree below the root aggregates its own descendants only
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    [leaf] = await children(store, mid, 1)
    await store.add_logs([LogEntry(leaf.id, "info", "leaf line", now)], publish=False)
    sub = await store.read_logs(LogQuery(mid.id, aggregated=True))
    assert "leaf line" in [entry.message for entry in sub]
    assert "w1" not in [entry.message for entry in sub]
    assert recorder.events[-1].payload.get("message") != "leaf line"  # publish=False
    with pytest.raises(InvalidJobSpec):
        await store.add_logs([LogEntry(root.id, "loud", "x", now)])
    with pytest.raises(InvalidJobSpec):
        await store.read_logs(LogQuery(root.id, min_level="loud"))
    with pytest.raises(JobNotFound):
        await store.read_logs(LogQuery(10**9))


async def test_event_log_replays_gap_free_in_commit_order(store: Store, recorder: Recorder) -> None:
    assert await store.event_bounds() == (1, 0)
    root = await running_root(store)
    await children(store, root, 3)
    for job in await store.claim_jobs("w", 3, 30, ["noop"]):
        await complete(store, job, "w")
    events = await store.read_events(0, 10_000)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    # on_commit saw the same events, in the same order, with the same payloads
    assert [(e.seq, e.type, e.payload) for e in recorder.events] == [
        (e.seq, e.type, e.payload) for e in events
    ]
    assert await store.event_bounds() == (1, seqs[-1])
    # filters: after/until, types, job ids (an event matches by job_id or root_id)
    window = await store.read_events(3, 1000, until_seq=6)
    assert [e.seq for e in window] == [4, 5, 6]
    assert [e.seq for e in await store.read_events(0, 2)] == [1, 2]
    progress = await store.read_events(0, 1000, types=["parent_job_progress"])
    assert progress and all(e.type == "parent_job_progress" for e in progress)
    assert progress[-1].payload["completed_children"] == 3
    by_root = await store.read_events(0, 1000, job_ids=[root.id])
    assert len(by_root) == len(events)  # every event of the tree names the root
    first_child = events[0].seq
    assert await store.read_events(seqs[-1], 1000) == []
    assert first_child == 1


async def test_prune_keeps_the_newest_event_and_the_sequence(store: Store) -> None:
    for _ in range(3):
        await store.create_jobs([NewJob("noop")])
    first, last = await store.event_bounds()
    assert (first, last) == (1, 3)
    assert await store.prune_events(time.time() + 10) == 2
    assert await store.event_bounds() == (3, 3)
    await store.create_jobs([NewJob("noop")])
    assert [e.seq for e in await store.read_events(0)] == [3, 4]


async def test_progress_result_counts_and_named_stats(store: Store, recorder: Recorder) -> None:
    root = await running_root(store)
    await store.set_progress(root.id, {"current": 3, "total": 10, "message": "m"})
    got = await store.get_job(root.id)
    assert got and got.progress == {"current": 3, "total": 10, "message": "m"}
    assert recorder.events[-1].type == "job_progress"
    assert recorder.events[-1].payload == {
        "job_id": root.id,
        "current": 3,
        "total": 10,
        "message": "m",
    }
    await store.add_result_count(root.id, 2)
    await store.add_result_count(root.id, 3)
    await store.add_job_stats(root.id, {"skipped_robots": 2, "skipped_offsite": 1, "zero": 0})
    await store.add_job_stats(root.id, {"skipped_robots": 5})
    got = await store.get_job(root.id)
    assert got and got.result_count == 5
    assert got.stats == {"skipped_robots": 7, "skipped_offsite": 1}
    for call in (
        store.set_progress(10**9, {"current": 1}),
        store.add_result_count(10**9, 1),
        store.add_job_stats(10**9, {"x": 1}),
    ):
        with pytest.raises(JobNotFound):
            await call
    events = await store.read_events(0, 10_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_every_status_change_writes_row_log_and_event_together(store: Store) -> None:
    root = await running_root(store)
    [kid] = await children(store, root, 1)
    [kid] = await store.claim_jobs("w", 1, 30, ["noop"])
    await store.apply_changes(
        [StatusChange(kid.id, JobStatus.FAILED, error="bad", expect_owner="w")]
    )
    logs = [entry.message for entry in await store.read_logs(LogQuery(kid.id))]
    assert logs == ["Status changed: running", "Status changed: failed"]
    changes = [
        e.payload
        for e in await store.read_events(0, 1000, types=["job_status_change"])
        if e.job_id == kid.id
    ]
    assert [p["status"] for p in changes] == ["running", "failed"]
    assert set(changes[0]) == {"job_id", "status", "job_type", "parent_id", "timestamp"}
    assert changes[0]["parent_id"] == root.id
