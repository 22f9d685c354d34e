"""The manager's rules as a pure function of loaded rows (no database)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from quaero.errors import InvalidTransition, JobNotFound, JobStateError
from quaero.jobs.models import ACTIVE, Counters, Job, JobStatus, NewJob, StatusChange
from quaero.jobs.planner import Planner


def tree(n_children: int) -> dict[int, Job]:
    jobs = {1: Job(1, "fanout", JobStatus.RUNNING, root_id=1, lease_owner="w")}
    plan = Planner(jobs, now=100.0)
    plan.create([NewJob("noop", parent_id=1) for _ in range(n_children)], 2, 3)
    return jobs


def recount(jobs: dict[int, Job], parent: int) -> Counters:
    c = Counters()
    for j in jobs.values():
        if j.parent_id == parent:
            c.total += 1
            c.add(j.status)
    return c


def test_create_children_bumps_total_and_pending_and_emits_spawn() -> None:
    jobs = {1: Job(1, "fanout", JobStatus.RUNNING, root_id=1)}
    plan = Planner(jobs, now=100.0)
    created = plan.create([NewJob("noop", parent_id=1) for _ in range(3)], 10, 3)
    plan.finish()
    assert [j.id for j in created] == [10, 11, 12]
    assert all(j.root_id == 1 and j.depth == 1 for j in created)
    assert jobs[1].children == Counters(total=3, pending=3)
    types = [e.type for e in plan.events]
    assert types == ["job_spawn", "parent_job_progress", "log"]
    assert plan.events[0].payload == {
        "parent_id": 1,
        "root_id": 1,
        "count": 3,
        "first_id": 10,
        "last_id": 12,
    }


def test_status_change_writes_row_counters_log_and_event() -> None:
    jobs = tree(2)
    plan = Planner(jobs, now=200.0)
    plan.claim(jobs[2], "w1", 30)
    res = plan.change(StatusChange(2, JobStatus.COMPLETED, expect_owner="w1"))
    plan.finish()
    assert res.ok and jobs[2].status is JobStatus.COMPLETED and jobs[2].completed_at == 200.0
    assert jobs[1].children == Counters(total=2, pending=1, completed=1)
    assert [log.message for log in plan.logs if log.job_id == 2] == [
        "Status changed: running",
        "Status changed: completed",
    ]
    changes = [e for e in plan.events if e.type == "job_status_change"]
    assert changes[-1].payload == {
        "job_id": 2,
        "status": "completed",
        "job_type": "noop",
        "parent_id": 1,
        "timestamp": "1970-01-01T00:03:20Z",
    }
    progress = [e for e in plan.events if e.type == "parent_job_progress"]
    assert len(progress) == 1  # coalesced per transaction, latest counts
    assert progress[0].payload["progress_text"] == "1 pending, 0 running, 1 completed, 0 failed"


def test_illegal_transition_changes_nothing() -> None:
    jobs = tree(1)
    plan = Planner(jobs, now=1.0)
    res = plan.change(StatusChange(2, JobStatus.COMPLETED))  # pending -> completed
    assert isinstance(res.error, InvalidTransition)
    assert jobs[2].status is JobStatus.PENDING
    assert not plan.dirty and not plan.events and not plan.logs


def test_unknown_job_and_lost_lease_are_refused() -> None:
    jobs = tree(1)
    plan = Planner(jobs, now=1.0)
    assert isinstance(plan.change(StatusChange(99, JobStatus.RUNNING)).error, JobNotFound)
    plan.claim(jobs[2], "w1", 30)
    res = plan.change(StatusChange(2, JobStatus.COMPLETED, expect_owner="w2"))
    assert isinstance(res.error, JobStateError)
    assert jobs[2].status is JobStatus.RUNNING


def test_parent_waits_for_children_then_takes_overall_status() -> None:
    jobs = tree(2)
    plan = Planner(jobs, now=1.0)
    plan.change(StatusChange(1, JobStatus.COMPLETED, expect_owner="w", handler_done=True))
    assert jobs[1].status is JobStatus.RUNNING and jobs[1].waiting and jobs[1].lease_owner is None
    for i in (2, 3):
        plan.claim(jobs[i], "w", 30)
    plan.change(StatusChange(2, JobStatus.COMPLETED))
    assert jobs[1].status is JobStatus.RUNNING
    plan.change(StatusChange(3, JobStatus.FAILED, error="boom"))
    assert jobs[1].status is JobStatus.FAILED  # stored status follows the overall rule
    plan.finish()
    last = [e for e in plan.events if e.type == "parent_job_progress"][-1]
    assert last.payload["status"] == "failed"
    assert last.payload["progress_text"] == "0 pending, 0 running, 1 completed, 1 failed"


def test_cascade_up_a_nested_tree() -> None:
    jobs = {
        1: Job(
            1,
            "root",
            JobStatus.RUNNING,
            root_id=1,
            waiting=True,
            children=Counters(total=1, running=1),
        ),
        2: Job(
            2,
            "mid",
            JobStatus.RUNNING,
            parent_id=1,
            root_id=1,
            depth=1,
            waiting=True,
            children=Counters(total=1, running=1),
        ),
        3: Job(3, "leaf", JobStatus.RUNNING, parent_id=2, root_id=1, depth=2),
    }
    plan = Planner(jobs, now=1.0)
    plan.change(StatusChange(3, JobStatus.COMPLETED))
    assert jobs[2].status is JobStatus.COMPLETED
    assert jobs[1].status is JobStatus.COMPLETED
    assert jobs[1].children == Counters(total=1, completed=1)


def test_progress_log_lines_are_rate_limited() -> None:
    jobs = tree(100)
    lines = []
    for i in range(2, 102):  # 100 children finish within one second
        plan = Planner(jobs, now=1000.0 + i * 0.01, progress_log_interval=2.0)
        plan.claim(jobs[i], "w", 30)
        plan.change(StatusChange(i, JobStatus.COMPLETED))
        plan.finish()
        lines += [log.message for log in plan.logs if log.job_id == 1]
    # the first change (2 s after the last line) and the final state, nothing between
    assert lines == [
        "99 pending, 0 running, 1 completed, 0 failed",
        "0 pending, 0 running, 100 completed, 0 failed",
    ]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=30),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    steps=st.integers(min_value=0, max_value=200),
)
def test_counters_always_equal_a_recount(n: int, seed: int, steps: int) -> None:
    rnd = random.Random(seed)
    jobs = tree(n)
    targets = list(JobStatus)
    for _ in range(steps):
        plan = Planner(jobs, now=rnd.random() * 1000)
        for _ in range(rnd.randint(1, 5)):
            if n == 0:
                break
            job_id = rnd.randint(2, n + 1)
            job = jobs[job_id]
            if job.status is JobStatus.PENDING and rnd.random() < 0.6:
                plan.claim(job, "w", 30)
            else:
                plan.change(StatusChange(job_id, rnd.choice(targets)))
        if rnd.random() < 0.05:
            plan.change(StatusChange(1, JobStatus.COMPLETED, handler_done=True))
        plan.finish()
        assert jobs[1].children == recount(jobs, 1)
        progress = [e for e in plan.events if e.type == "parent_job_progress"]
        if progress:
            p = progress[-1].payload
            c = jobs[1].children
            assert (
                p["total_children"],
                p["pending_children"],
                p["running_children"],
                p["completed_children"],
                p["failed_children"],
                p["cancelled_children"],
            ) == (c.total, c.pending, c.running, c.completed, c.failed, c.cancelled)
    c = jobs[1].children
    if (
        jobs[1].waiting
        and c.total
        and not any(j.status in ACTIVE for j in jobs.values() if j.parent_id == 1)
    ):
        assert jobs[1].status.terminal


def test_rate_and_eta_come_from_the_parents_sample_ring() -> None:
    jobs = tree(10)
    parent = jobs[1]
    parent.started_at = 100.0
    kids = [j for j in jobs.values() if j.parent_id == 1]
    plan = Planner(jobs, now=100.0)  # the first sample: 0 finished
    plan.claim(kids[0], "w", 30)
    plan.finish()
    plan = Planner(jobs, now=102.0)
    for j in kids[1:4]:
        plan.claim(j, "w", 30)
    for j in kids[:4]:
        plan.change(StatusChange(j.id, JobStatus.COMPLETED, expect_owner="w"))
    plan.finish()
    progress = [e.payload for e in plan.events if e.type == "parent_job_progress"][-1]
    # 4 children finished in the 2 s since the first sample: 2/s, 6 left: 3 s
    assert progress["rate"] == 2.0 and progress["eta_seconds"] == 3.0
    assert progress["elapsed_seconds"] == 2.0
    assert [s[1] for s in parent.progress_samples] == [0, 4]
    # 31 s later the first sample left the window: the rate is unknown again
    plan = Planner(jobs, now=133.5)
    j = next(j for j in jobs.values() if j.parent_id == 1 and j.status is JobStatus.PENDING)
    plan.claim(j, "w", 30)
    plan.finish()
    progress = [e.payload for e in plan.events if e.type == "parent_job_progress"][-1]
    assert progress["rate"] is None and progress["eta_seconds"] is None
    # done: rate and ETA are 0, elapsed stops at completion
    plan = Planner(jobs, now=140.0)
    for j in [j for j in jobs.values() if j.parent_id == 1 and not j.is_terminal]:
        if j.status is JobStatus.PENDING:
            plan.claim(j, "w", 30)
        plan.change(StatusChange(j.id, JobStatus.COMPLETED, expect_owner="w"))
    plan.finish()
    progress = [e.payload for e in plan.events if e.type == "parent_job_progress"][-1]
    assert progress["status"] == "completed"
    assert (progress["rate"], progress["eta_seconds"], progress["elapsed_seconds"]) == (
        0.0,
        0.0,
        40.0,
    )
