"""Store contract: create, claim, complete, retry, leases, heartbeats, illegal changes."""

from __future__ import annotations

import asyncio
import time

import pytest

from quaero.errors import InvalidJobSpec, InvalidTransition, JobNotFound, JobStateError
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.base import JobQuery, LogQuery, Store

from .conftest import Recorder
from .helpers import OWNER, c, children, complete, counters, root, running_root


async def test_schema_is_migrated_and_reopening_is_idempotent(store: Store) -> None:
    version = await store.schema_version()
    assert version >= 1
    again = type(store)(store.url)
    await again.open()
    try:
        assert await again.schema_version() == version
    finally:
        await again.close()


async def test_create_top_level_job(store: Store, recorder: Recorder) -> None:
    job = (await store.create_jobs([NewJob("noop", {"a": 1}, name="n", metadata={"m": 2})]))[0]
    assert job.id > 0 and job.root_id == job.id and job.depth == 0
    got = await store.get_job(job.id)
    assert got is not None
    assert (got.job_type, got.name, got.config, got.metadata) == ("noop", "n", {"a": 1}, {"m": 2})
    assert got.status is JobStatus.PENDING and got.attempts == 0 and got.max_attempts == 3
    assert [e.type for e in recorder.events] == ["job_created"]
    assert recorder.events[0].payload["id"] == job.id
    logs = await store.read_logs(LogQuery(job.id))
    assert [entry.message for entry in logs] == ["Job created (noop)"]


async def test_children_bump_parent_counters_in_the_same_commit(
    store: Store, recorder: Recorder
) -> None:
    parent = await running_root(store)
    kids = await children(store, parent, 5)
    assert [k.parent_id for k in kids] == [parent.id] * 5
    assert all(k.root_id == parent.id and k.depth == 1 for k in kids)
    assert sorted(k.id for k in kids) == [k.id for k in kids]
    assert min(k.id for k in kids) > parent.id
    assert await counters(store, parent.id) == c(total=5, pending=5, running=0)
    types = [e.type for e in recorder.events]
    assert types[-3:] == ["job_spawn", "parent_job_progress", "log"]
    spawn = recorder.events[-3].payload
    assert spawn["count"] == 5 and spawn["first_id"] == kids[0].id
    progress = recorder.events[-2].payload
    assert progress["total_children"] == 5 and progress["pending_children"] == 5
    assert progress["progress_text"] == "5 pending, 0 running, 0 completed, 0 failed"


async def test_create_refuses_bad_specs_and_creates_nothing(store: Store) -> None:
    parent = await running_root(store)
    with pytest.raises(InvalidJobSpec):
        await store.create_jobs([NewJob("")])
    with pytest.raises(JobNotFound):
        await store.create_jobs(
            [NewJob("noop", parent_id=parent.id), NewJob("noop", parent_id=10**9)]
        )
    with pytest.raises(InvalidJobSpec):
        await store.create_jobs([NewJob("noop", parent_id=parent.id, max_attempts=0)])
    assert await counters(store, parent.id) == c()
    await complete(store, parent)
    with pytest.raises(JobStateError):
        await store.create_jobs([NewJob("noop", parent_id=parent.id)])
    page = await store.list_jobs(JobQuery())
    assert page.total == 1


async def test_dedupe_keys_and_spawn_budget(store: Store) -> None:
    parent = await running_root(store)
    specs = [NewJob("noop", parent_id=parent.id, dedupe_key=k) for k in ("a", "b", "a")]
    created = await store.create_jobs(specs)
    assert [j.dedupe_key for j in created] == ["a", "b"]
    again = await store.spawn_children(
        [NewJob("noop", parent_id=parent.id, dedupe_key=k) for k in ("b", "c", "d", "e")],
        max_children=4,
    )
    assert [j.dedupe_key for j in again.created] == ["c", "d"]
    assert (again.duplicates, again.over_budget) == (1, 1)
    assert await counters(store, parent.id) == c(total=4, pending=4)
    # a key is unique per parent, not globally; top-level keys are unique among roots
    other = await running_root(store)
    assert len(await store.create_jobs([NewJob("noop", parent_id=other.id, dedupe_key="a")])) == 1
    assert len(await store.create_jobs([NewJob("noop", dedupe_key="top")])) == 1
    assert await store.create_jobs([NewJob("noop", dedupe_key="top")]) == []


async def test_claim_takes_due_jobs_of_the_types_in_id_order(store: Store) -> None:
    parent = await running_root(store)
    kids = await children(store, parent, 5)
    later = await store.create_jobs([NewJob("noop", parent_id=parent.id, delay=60)])
    other = await store.create_jobs([NewJob("other", parent_id=parent.id)])
    got = await store.claim_jobs(OWNER, 3, 30, ["noop"])
    assert [j.id for j in got] == [k.id for k in kids[:3]]
    for j in got:
        assert j.status is JobStatus.RUNNING and j.lease_owner == OWNER and j.attempts == 1
        assert j.lease_expires_at is not None and j.lease_expires_at > time.time() + 20
    rest = await store.claim_jobs("worker-b", 10, 30, ["noop"])
    assert [j.id for j in rest] == [k.id for k in kids[3:]]
    assert later[0].id not in {j.id for j in rest} and other[0].id not in {j.id for j in rest}
    assert await store.claim_jobs(OWNER, 10, 30, ["noop"]) == []
    assert await store.claim_jobs(OWNER, 0, 30, ["noop"]) == []
    assert await store.claim_jobs(OWNER, 5, 30, []) == []
    assert await counters(store, parent.id) == c(total=7, pending=2, running=5)


async def test_concurrent_claims_never_share_a_job(store: Store) -> None:
    parent = await running_root(store)
    await children(store, parent, 200)
    batches = await asyncio.gather(*(store.claim_jobs(f"w{i}", 7, 30, ["noop"]) for i in range(40)))
    ids = [j.id for b in batches for j in b]
    assert len(ids) == len(set(ids)) == 200
    assert await counters(store, parent.id) == c(total=200, running=200)
    assert await store.recount() == []


async def test_complete_fail_and_lost_lease(store: Store) -> None:
    parent = await running_root(store)
    await children(store, parent, 3)
    a, b, d = await store.claim_jobs(OWNER, 3, 30, ["noop"])
    res = await store.apply_changes(
        [
            StatusChange(a.id, JobStatus.COMPLETED, result={"x": 1}, expect_owner=OWNER),
            StatusChange(b.id, JobStatus.FAILED, error="boom", expect_owner=OWNER),
            StatusChange(d.id, JobStatus.COMPLETED, expect_owner="someone-else"),
        ]
    )
    assert [r.ok for r in res] == [True, True, False]
    assert isinstance(res[2].error, JobStateError)
    got_a, got_b, got_d = [await store.get_job(j.id) for j in (a, b, d)]
    assert got_a and got_a.status is JobStatus.COMPLETED and got_a.result == {"x": 1}
    assert got_a.completed_at is not None and got_a.lease_owner is None
    assert got_b and got_b.status is JobStatus.FAILED and got_b.error == "boom"
    assert got_d and got_d.status is JobStatus.RUNNING
    assert await counters(store, parent.id) == c(total=3, running=1, completed=1, failed=1)


async def test_retry_goes_back_to_pending_until_due(store: Store) -> None:
    parent = await running_root(store)
    await children(store, parent, 1)
    [job] = await store.claim_jobs(OWNER, 1, 30, ["noop"])
    due = time.time() + 0.3
    [res] = await store.apply_changes(
        [
            StatusChange(
                job.id, JobStatus.PENDING, error="try again", expect_owner=OWNER, available_at=due
            )
        ]
    )
    assert res.ok
    got = await store.get_job(job.id)
    assert (
        got and got.status is JobStatus.PENDING and got.attempts == 1 and got.error == "try again"
    )
    assert await store.claim_jobs(OWNER, 1, 30, ["noop"]) == []
    await asyncio.sleep(max(0.0, due - time.time()) + 0.05)
    [again] = await store.claim_jobs(OWNER, 1, 30, ["noop"])
    assert again.id == job.id and again.attempts == 2 and again.error is None
    # a release at shutdown does not count the attempt
    await store.apply_changes(
        [StatusChange(job.id, JobStatus.PENDING, expect_owner=OWNER, release=True)]
    )
    got = await store.get_job(job.id)
    assert got and got.attempts == 1 and got.status is JobStatus.PENDING
    assert await counters(store, parent.id) == c(total=1, pending=1)


async def test_expired_leases_are_requeued_or_failed_on_the_last_attempt(store: Store) -> None:
    parent = await running_root(store)
    await store.create_jobs([NewJob("noop", parent_id=parent.id, max_attempts=m) for m in (1, 2)])
    claimed = await store.claim_jobs("dead-worker", 2, 0.01, ["noop"])
    assert len(claimed) == 2
    await asyncio.sleep(0.05)
    assert sorted(await store.requeue_expired()) == sorted(j.id for j in claimed)
    last, retry = [await store.get_job(j.id) for j in claimed]
    assert last and last.status is JobStatus.FAILED and "last attempt" in (last.error or "")
    assert retry and retry.status is JobStatus.PENDING and retry.lease_owner is None
    assert await counters(store, parent.id) == c(total=2, pending=1, failed=1)
    assert await store.requeue_expired() == []
    [again] = await store.claim_jobs("live-worker", 1, 30, ["noop"])
    assert again.id == retry.id and again.attempts == 2


async def test_heartbeat_extends_only_held_leases(store: Store) -> None:
    parent = await running_root(store)
    await children(store, parent, 2)
    a, b = await store.claim_jobs(OWNER, 2, 0.2, ["noop"])
    held = await store.heartbeat(OWNER, [a.id, b.id, 10**9], 60)
    assert held == {a.id, b.id}
    assert await store.heartbeat("other", [a.id], 60) == set()
    await asyncio.sleep(0.3)
    assert await store.requeue_expired() == []
    assert await store.has_active_workers(time.time() - 5)
    await complete(store, a)
    assert await store.heartbeat(OWNER, [a.id, b.id], 60) == {b.id}


async def test_illegal_transitions_and_unknown_ids_change_nothing(
    store: Store, recorder: Recorder
) -> None:
    job = await root(store, "noop")
    before = len(recorder.events)
    res = await store.apply_changes(
        [
            StatusChange(job.id, JobStatus.COMPLETED),  # pending -> completed: illegal
            StatusChange(10**9, JobStatus.CANCELLED),
        ]
    )
    assert isinstance(res[0].error, InvalidTransition)
    assert isinstance(res[1].error, JobNotFound)
    assert len(recorder.events) == before
    got = await store.get_job(job.id)
    assert got and got.status is JobStatus.PENDING
    [res2] = await store.apply_changes([StatusChange(job.id, JobStatus.CANCELLED)])
    assert res2.ok
    [res3] = await store.apply_changes([StatusChange(job.id, JobStatus.RUNNING)])
    assert isinstance(res3.error, InvalidTransition)
    assert await store.get_job(10**9) is None


async def test_apply_and_claim_commits_outcomes_and_the_next_claim_together(
    store: Store, recorder: Recorder
) -> None:
    parent = await running_root(store)
    kids = await children(store, parent, 6)
    a, b = await store.claim_jobs(OWNER, 2, 30, ["noop"])
    results, claimed = await store.apply_and_claim(
        [
            StatusChange(a.id, JobStatus.COMPLETED, expect_owner=OWNER),
            StatusChange(b.id, JobStatus.FAILED, error="boom", expect_owner="someone-else"),
        ],
        OWNER,
        3,
        30,
        ["noop"],
    )
    assert [r.ok for r in results] == [True, False]
    if store.claims_with_changes:
        assert [j.id for j in claimed] == [k.id for k in kids[2:5]]
        for j in claimed:
            assert j.status is JobStatus.RUNNING and j.lease_owner == OWNER and j.attempts == 1
        assert await counters(store, parent.id) == c(total=6, pending=1, running=4, completed=1)
    else:  # the worker's claim loop claims
        assert claimed == []
        assert await counters(store, parent.id) == c(total=6, pending=4, running=1, completed=1)
    assert await store.recount() == []
    seqs = [e.seq for e in recorder.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # nothing to apply: a plain claim; nothing to claim: a plain apply
    assert (await store.apply_and_claim([], OWNER, 0, 30, ["noop"])) == ([], [])
    results, claimed = await store.apply_and_claim(
        [StatusChange(b.id, JobStatus.COMPLETED, expect_owner=OWNER)], OWNER, 0, 30, ["noop"]
    )
    assert [r.ok for r in results] == [True] and claimed == []
