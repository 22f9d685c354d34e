"""Store contract: the one failure rule on every terminal path, retry in place with
reopened ancestors, bulk transactions, error groups and descendants counters."""

from __future__ import annotations

import pytest

from quaero.errors import JobStateError
from quaero.jobs.models import Job, JobStatus, NewJob, StatusChange
from quaero.store.base import ChildFilter, JobQuery, LogQuery, Store

from .conftest import Recorder
from .helpers import OWNER, c, children, complete, counters, running_root


async def tree(store: Store) -> tuple[Job, Job, list[Job], list[Job]]:
    """root (running, OWNER) -> mid (running, "w1", waiting for 2 leaves) and 2 pending
    siblings; the 2 leaves run under "w2"."""
    root = await running_root(store)
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    await children(store, root, 2, "other")
    [mid] = await store.claim_jobs("w1", 1, 60, ["fanout"])
    leaves = await children(store, mid, 2)
    await complete(store, mid, "w1")
    leaves = await store.claim_jobs("w2", 2, 60, ["noop"])
    assert {j.parent_id for j in leaves} == {mid.id}
    return root, mid, leaves, []


async def statuses(store: Store) -> dict[int, str]:
    page = await store.list_jobs(JobQuery(limit=1000))
    return {j.id: j.status.value for j in page.items}


async def assert_consistent(store: Store) -> None:
    assert await store.recount() == []


@pytest.mark.parametrize("path", ["handler_error", "permanent_error", "cancel"])
async def test_failure_rule_cancels_the_active_subtree_in_the_same_transaction(
    store: Store, path: str
) -> None:
    root, mid, leaves, _ = await tree(store)
    if path == "handler_error":
        [res] = await store.apply_changes(
            [StatusChange(root.id, JobStatus.FAILED, error="boom", expect_owner=OWNER)]
        )
        assert res.ok
        want = "failed"
    elif path == "permanent_error":  # a handler's PermanentJobError: failed, no retry
        [res] = await store.apply_changes(
            [StatusChange(mid.id, JobStatus.FAILED, error="nope", expect_owner=None)]
        )
        assert res.ok
        got = await statuses(store)
        assert got[mid.id] == "failed" and {got[j.id] for j in leaves} == {"cancelled"}
        assert got[root.id] == "running"  # its own handler still runs
        await assert_consistent(store)
        return
    else:
        assert await store.cancel_subtree(root.id) >= 6
        want = "cancelled"
    got = await statuses(store)
    assert got[root.id] == want
    others = {i: s for i, s in got.items() if i != root.id}
    assert set(others.values()) == {"cancelled"}, others
    assert await store.claim_jobs("w3", 10, 60, ["noop", "fanout"]) == []
    await assert_consistent(store)


async def test_lease_expired_on_the_last_attempt_fails_and_cancels_below(store: Store) -> None:
    [r] = await store.create_jobs([NewJob("fanout", max_attempts=1)])
    [r] = await store.claim_jobs("dead", 1, 60, ["fanout"])
    kids = await children(store, r, 3)
    running = await store.claim_jobs("dead", 3, 60, ["noop"])
    assert len(running) == 3
    await store.heartbeat("dead", [r.id, *(k.id for k in kids)], -1)  # the worker died
    await store.requeue_expired()
    got = await store.get_job(r.id)
    assert got is not None and got.status is JobStatus.FAILED
    assert got.error == "lease expired on the last attempt"
    assert got.children.as_dict() == c(total=3, cancelled=3)
    assert await store.claim_jobs("w", 10, 60, ["noop"]) == []
    await assert_consistent(store)


async def test_retry_in_place_reopens_terminal_ancestors(store: Store, recorder: Recorder) -> None:
    root = await running_root(store)
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    [mid] = await store.claim_jobs("w1", 1, 60, ["fanout"])
    leaves = await children(store, mid, 2)
    await complete(store, mid, "w1")
    await complete(store, root)
    a, b = await store.claim_jobs("w2", 2, 60, ["noop"])
    await store.apply_changes(
        [StatusChange(a.id, JobStatus.FAILED, error="ValueError: row 17", expect_owner="w2")]
    )
    await complete(store, b, "w2")
    got = await statuses(store)
    assert (got[root.id], got[mid.id], got[a.id]) == ("failed", "failed", "failed")

    [res] = await store.retry_jobs([a.id])
    assert res.ok
    job = await store.get_job(a.id)
    assert job is not None
    assert (job.status, job.attempts, job.error, job.error_group) == (
        JobStatus.PENDING,
        0,
        None,
        None,
    )
    for parent in (mid.id, root.id):
        p = await store.get_job(parent)
        assert p is not None and p.status is JobStatus.RUNNING and p.waiting
        assert p.lease_owner is None
    assert await counters(store, mid.id) == c(total=2, pending=1, completed=1)
    logs = [e.message for e in await store.read_logs(LogQuery(a.id, limit=100))]
    assert "Retry in place (previous error: ValueError: row 17)" in logs
    assert "Status changed: pending (retry in place)" in logs
    statuses_seen = [
        (e.job_id, e.payload["status"]) for e in recorder.events if e.type == "job_status_change"
    ]
    assert (mid.id, "running") in statuses_seen and (root.id, "running") in statuses_seen
    assert await store.error_groups(root.id) == []
    await assert_consistent(store)

    # the handlers are not run again: the retried leaf finishing completes the tree
    [again] = await store.claim_jobs("w3", 5, 60, ["noop", "fanout"])
    assert again.id == a.id and again.attempts == 1
    await complete(store, again, "w3")
    got = await statuses(store)
    assert (got[root.id], got[mid.id], got[a.id]) == ("completed", "completed", "completed")
    await assert_consistent(store)
    _ = leaves


async def test_retry_refuses_what_is_not_failed_or_cancelled(store: Store) -> None:
    root = await running_root(store)
    [res] = await store.retry_jobs([root.id])
    assert isinstance(res.error, JobStateError)
    assert "only failed or cancelled jobs can be retried" in str(res.error)
    got = await store.get_job(root.id)
    assert got is not None and got.status is JobStatus.RUNNING


async def test_bulk_transactions_and_match_filters(store: Store) -> None:
    root = await running_root(store)
    kids = await children(store, root, 4)
    [extra] = await store.create_jobs([NewJob("other", parent_id=root.id)])
    claimed = await store.claim_jobs("w", 4, 60, ["noop"])
    for j, err in zip(claimed, ["http_404: a", "http_404: b", "timeout: x"], strict=False):
        await store.apply_changes(
            [StatusChange(j.id, JobStatus.FAILED, error=err, expect_owner="w")]
        )
    f404 = ChildFilter(error_group="http_404")
    assert await store.match_ids(root.id, f404) == [kids[0].id, kids[1].id]
    assert await store.match_ids(root.id, ChildFilter(job_type="other")) == [extra.id]
    assert await store.match_ids(root.id, ChildFilter(statuses=[JobStatus.RUNNING])) == [kids[3].id]
    page = await store.list_jobs(JobQuery(parent_id=root.id, error_group="timeout"))
    assert [j.id for j in page.items] == [kids[2].id]

    res = await store.cancel_jobs([kids[3].id, extra.id, kids[0].id])
    assert [r.ok for r in res] == [True, True, False]
    res = await store.retry_jobs([kids[0].id, kids[1].id])
    assert all(r.ok for r in res)
    assert [g.key for g in await store.error_groups(root.id)] == ["timeout"]
    res = await store.delete_jobs([kids[2].id, kids[0].id])
    assert [r.ok for r in res] == [True, False]  # kids[0] is pending again
    assert await store.error_groups(root.id) == []
    assert await counters(store, root.id) == c(total=4, pending=2, cancelled=2)
    await assert_consistent(store)


async def test_error_groups_count_on_every_ancestor(store: Store) -> None:
    root = await running_root(store)
    [mid] = await store.create_jobs([NewJob("fanout", parent_id=root.id)])
    [mid] = await store.claim_jobs("w1", 1, 60, ["fanout"])
    await children(store, mid, 5)
    got = await store.claim_jobs("w2", 5, 60, ["noop"])
    errors = [
        "ValueError: row 17 of 'a.csv'",
        "ValueError: row 4 of 'b.csv'",
        "ValueError: row 5 of 'c.csv'",
        "http_503: Service Unavailable",
        "ConnectionError: https://example.com/x refused",
    ]
    await store.apply_changes(
        [
            StatusChange(j.id, JobStatus.FAILED, error=e, expect_owner="w2")
            for j, e in zip(got, errors, strict=True)
        ]
    )
    for parent in (root.id, mid.id):
        groups = await store.error_groups(parent)
        assert [(g.key, g.count) for g in groups] == [
            ("ValueError: row <n> of <str>", 3),
            ("ConnectionError: <url> refused", 1),
            ("http_503", 1),
        ]
        assert sorted(groups[0].sample_job_ids) == sorted(j.id for j in got[:3])
        assert groups[0].last_seen > 0
    leaf = await store.get_job(got[0].id)
    assert leaf is not None and leaf.error_group == "ValueError: row <n> of <str>"
    await store.retry_jobs([got[0].id])
    groups = await store.error_groups(root.id)
    assert groups[0].count == 2 and got[0].id not in groups[0].sample_job_ids


async def test_descendants_count_the_whole_subtree(store: Store, recorder: Recorder) -> None:
    root = await running_root(store)
    mids = await store.create_jobs([NewJob("fanout", parent_id=root.id) for _ in range(3)])
    for m in mids:
        await children(store, m, 4)
    r = await store.get_job(root.id)
    assert r is not None
    assert r.children.as_dict() == c(total=3, pending=3)
    assert r.descendants.as_dict() == c(total=15, pending=15)
    leaf = (await store.claim_jobs("w", 20, 60, ["noop"]))[0]
    await complete(store, leaf, "w")
    r = await store.get_job(root.id)
    assert r is not None
    assert r.descendants.as_dict() == c(total=15, pending=3, running=11, completed=1)
    last = [
        e.payload
        for e in recorder.events
        if e.type == "parent_job_progress" and e.job_id == root.id
    ][-1]
    assert last["descendants"] == r.descendants.as_dict()
    assert last["total_children"] == 3  # the seed's fields: direct children only
    await assert_consistent(store)
