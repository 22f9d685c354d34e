"""Progress text, overall status and the seed's payload."""

from __future__ import annotations

import pytest

from quaero.jobs.models import Counters, JobStatus
from quaero.jobs.progress import overall_status, progress_payload, progress_text

SEED_FIELDS = {
    "job_id",
    "progress_text",
    "status",
    "timestamp",
    "total_children",
    "pending_children",
    "running_children",
    "completed_children",
    "failed_children",
    "cancelled_children",
}


def test_no_children_text() -> None:
    assert progress_text(Counters()) == "0 pending, 0 running, 0 completed, 0 failed"


def test_seed_example_text() -> None:
    c = Counters(total=108, pending=66, running=1, completed=41)
    assert progress_text(c) == "66 pending, 1 running, 41 completed, 0 failed"


@pytest.mark.parametrize(
    ("own", "counters", "expected"),
    [
        (JobStatus.RUNNING, Counters(), JobStatus.RUNNING),  # no children: own status
        (JobStatus.COMPLETED, Counters(), JobStatus.COMPLETED),
        (JobStatus.RUNNING, Counters(3, 1, 0, 2, 0, 0), JobStatus.RUNNING),
        (JobStatus.RUNNING, Counters(3, 0, 1, 1, 1, 0), JobStatus.RUNNING),  # failed but active
        (JobStatus.RUNNING, Counters(3, 0, 0, 2, 1, 0), JobStatus.FAILED),
        (JobStatus.RUNNING, Counters(3, 0, 0, 0, 0, 3), JobStatus.CANCELLED),
        (JobStatus.RUNNING, Counters(3, 0, 0, 2, 0, 1), JobStatus.COMPLETED),
        (JobStatus.CANCELLED, Counters(3, 1, 0, 2, 0, 0), JobStatus.CANCELLED),
    ],
)
def test_overall_status(own: JobStatus, counters: Counters, expected: JobStatus) -> None:
    assert overall_status(own, counters) is expected


def test_payload_has_exactly_the_seed_fields() -> None:
    c = Counters(total=5, pending=1, running=1, completed=2, failed=1)
    p = progress_payload(7, JobStatus.RUNNING, c, "2026-01-01T00:00:00Z")
    assert set(p) == SEED_FIELDS
    assert p == {
        "job_id": 7,
        "progress_text": "1 pending, 1 running, 2 completed, 1 failed",
        "status": "running",
        "timestamp": "2026-01-01T00:00:00Z",
        "total_children": 5,
        "pending_children": 1,
        "running_children": 1,
        "completed_children": 2,
        "failed_children": 1,
        "cancelled_children": 0,
    }
