"""The state machine."""

from __future__ import annotations

import json

import pytest

from quaero.errors import InvalidTransition
from quaero.jobs.models import TERMINAL, TRANSITIONS, JobStatus, check_transition

LEGAL = {
    ("pending", "running"),
    ("pending", "cancelled"),
    ("running", "completed"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "pending"),
    # retry in place
    ("failed", "pending"),
    ("cancelled", "pending"),
    # reopen: an ancestor of a job retried in place
    ("completed", "running"),
    ("failed", "running"),
    ("cancelled", "running"),
}


@pytest.mark.parametrize("current", list(JobStatus))
@pytest.mark.parametrize("requested", list(JobStatus))
def test_only_legal_transitions(current: JobStatus, requested: JobStatus) -> None:
    if (current.value, requested.value) in LEGAL:
        check_transition(1, current, requested)
    else:
        with pytest.raises(InvalidTransition, match=f"{current.value} -> {requested.value}"):
            check_transition(1, current, requested)


def test_terminal_states_leave_only_by_retry_or_reopen() -> None:
    for s in TERMINAL:
        assert TRANSITIONS[s] <= {JobStatus.PENDING, JobStatus.RUNNING}
    assert JobStatus.PENDING not in TRANSITIONS[JobStatus.COMPLETED]


def test_status_values_go_into_json_unchanged() -> None:
    assert json.dumps({"s": JobStatus.RUNNING}) == '{"s": "running"}'
    assert JobStatus("completed") is JobStatus.COMPLETED
    assert str(JobStatus.FAILED) == "failed"
