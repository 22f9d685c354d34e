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
}


@pytest.mark.parametrize("current", list(JobStatus))
@pytest.mark.parametrize("requested", list(JobStatus))
def test_only_legal_transitions(current: JobStatus, requested: JobStatus) -> None:
    if (current.value, requested.value) in LEGAL:
        check_transition(1, current, requested)
    else:
        with pytest.raises(InvalidTransition, match=f"{current.value} -> {requested.value}"):
            check_transition(1, current, requested)


def test_terminal_states_have_no_exit() -> None:
    for s in TERMINAL:
        assert TRANSITIONS[s] == frozenset()


def test_status_values_go_into_json_unchanged() -> None:
    assert json.dumps({"s": JobStatus.RUNNING}) == '{"s": "running"}'
    assert JobStatus("completed") is JobStatus.COMPLETED
    assert str(JobStatus.FAILED) == "failed"
