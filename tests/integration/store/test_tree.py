"""Store contract: parents wait for children, status rolls up, cancel and delete subtrees."""

from __future__ import annotations

import pytest

from quaero.errors import JobNotFound, JobStateError
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.base import JobQuery, LogQuery, Store

from .conftest import Recorder
from .helpers import OWNER, c, children, complete, counters, running_root


async def test_parent_waits_then_completes_when_its_last_child_does(
    store: Store, recorder: Recorder
) -> None:
    parent = await running_root(store)
    await children(store, parent, 2)
    await complete(store, parent)  # handler returned; children still active
    got = await store.get_job(parent.id)
    assert got and got.status is JobStatus.RUNNING and got.waiting and got.lease_owner is None
    a, b = await store.claim_jobs("w", 2, 30, ["noop"])
    await complete(store, a, "w")
    got = await store.get_job(parent.id)
    assert got and got.status is JobStatus.RUNNING
    await complete(store, b, "w")
    got = await store.get_job(parent.id)
    assert got and got.status is JobStatus.COMPLETED and not got.waiting
    final = [e for e in recorder.events if e.type == "parent_job_progress"][-1].payload
    assert final["status"] == "completed" and final["completed_children"] == 2
    assert final["pending_children"] == 0 and final["running_children"] == 0
    changes = [
        e.payload["status"]
        for e in recorder.events
        if e.job_id == parent.id and e.type == "job_status_change"
    ]
    assert changes == ["running", "completed"]


async def test_a_failed_child_makes_the_parent_failed(store: Store) -> None:
    parent = await running_root(store)
    await children(store, parent, 2)
    await complete(store, parent)
    a, b = await store.claim_jobs("w", 2, 30, ["noop"])
    await store.apply_changes([StatusChange(a.id, JobStatus.FAILED, error="x", expect_owner="w")])
    await complete(store, b, "w")
    got = await store.get_job(parent.id)
    assert got and got.status is JobStatus.FAILED
    assert await counters(store, parent.id) == c(total=2, completed=1, failed=1)


async def test_status_rolls_up_a_three_level_tree(store: Store) -> None:
    root = await running_root(store)
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    [mid] = await store.claim_jobs("w", 1, 30, ["fanout"])
    leaves = await children(store, mid, 3)
    assert all(leaf.depth == 2 and leaf.root_id == root.id for leaf in leaves)
    await complete(store, root)
    await complete(store, mid, "w")
    for leaf in await store.claim_jobs("w", 3, 30, ["noop"]):
        await complete(store, leaf, "w")
    got_mid, got_root = await store.get_job(mid.id), await store.get_job(root.id)
    assert got_mid and got_mid.status is JobStatus.COMPLETED
    assert got_root and got_root.status is JobStatus.COMPLETED
    assert await counters(store, root.id) == c(total=1, completed=1)
    assert await counters(store, mid.id) == c(total=3, completed=3)
    assert await store.recount() == []


async def test_cancel_subtree_cancels_every_active_descendant(
    store: Store, recorder: Recorder
) -> None:
    root = await running_root(store)
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    leaves = await children(store, mid, 3)
    [done] = await children(store, root, 1, job_type="other")
    [done] = await store.claim_jobs("w", 1, 30, ["other"])
    await complete(store, done, "w")
    [run] = await store.claim_jobs("w", 1, 30, ["noop"])
    assert run.id == leaves[0].id
    n = await store.cancel_subtree(root.id)
    assert n == 1 + 1 + 3  # root, mid, three leaves (the completed child stays)
    for j in (root, mid, *leaves):
        got = await store.get_job(j.id)
        assert got and got.status is JobStatus.CANCELLED
    got_done = await store.get_job(done.id)
    assert got_done and got_done.status is JobStatus.COMPLETED
    assert await counters(store, root.id) == c(total=2, completed=1, cancelled=1)
    assert await counters(store, mid.id) == c(total=3, cancelled=3)
    assert await store.recount() == []
    cancelled = {e.job_id for e in recorder.events if e.payload.get("status") == "cancelled"}
    assert cancelled >= {root.id, mid.id, *(leaf.id for leaf in leaves)}
    # nothing is claimable, nothing can be spawned, a second cancel changes nothing
    assert await store.claim_jobs("w", 10, 30, ["noop", "fanout"]) == []
    with pytest.raises(JobStateError):
        await store.create_jobs([NewJob("noop", parent_id=mid.id)])
    assert await store.cancel_subtree(root.id) == 0
    with pytest.raises(JobNotFound):
        await store.cancel_subtree(10**9)


async def test_cancel_children_only_keeps_the_parent_running(store: Store) -> None:
    root = await running_root(store)
    await children(store, root, 3)
    assert await store.cancel_subtree(root.id, include_self=False) == 3
    got = await store.get_job(root.id)
    assert got and got.status is JobStatus.RUNNING and got.lease_owner == OWNER
    assert await counters(store, root.id) == c(total=3, cancelled=3)


async def test_delete_subtree(store: Store, recorder: Recorder) -> None:
    root = await running_root(store)
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    leaves = await children(store, mid, 2)
    await children(store, root, 1)
    with pytest.raises(JobStateError):
        await store.delete_subtree(mid.id)
    await store.cancel_subtree(mid.id)
    assert await store.delete_subtree(mid.id) == 3
    assert await store.get_job(mid.id) is None
    assert [await store.get_job(leaf.id) for leaf in leaves] == [None, None]
    with pytest.raises(JobNotFound):
        await store.read_logs(LogQuery(mid.id))
    assert await counters(store, root.id) == c(total=1, pending=1)
    assert await store.recount() == []
    deleted = [e for e in recorder.events if e.type == "job_deleted"]
    assert deleted[-1].payload == {"job_id": mid.id, "parent_id": root.id}
    progress = [e for e in recorder.events if e.type == "parent_job_progress"][-1]
    assert progress.job_id == root.id and progress.payload["total_children"] == 1
    with pytest.raises(JobNotFound):
        await store.delete_subtree(mid.id)
    await store.cancel_subtree(root.id)
    assert await store.delete_subtree(root.id) == 2
    assert (await store.list_jobs(JobQuery())).total == 0
