"""FailureStreak: one record per streak of failures, not one per try."""

from __future__ import annotations

import logging

import pytest

from quaero.failures import FailureStreak

log = logging.getLogger("quaero.test.failures")


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == log.name]


def test_a_streak_logs_its_first_failure_with_traceback_then_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    streak = FailureStreak(log, "claim", every=3600)
    streak.ok()  # nothing failed: nothing logged
    for i in range(500):  # a store down: a try every 0.25 s for two minutes
        streak.failed(ConnectionRefusedError(f"refused {i}"))
    first, *rest = _records(caplog)
    assert rest == []
    assert first.levelno == logging.ERROR and first.getMessage() == "claim failed; retrying"
    assert first.exc_info is not None and "refused 0" in str(first.exc_info[1])
    streak.ok()
    streak.ok()
    ended = _records(caplog)[1:]
    assert [r.getMessage().split(" in ")[0] for r in ended] == [
        "claim works again after 500 failed tries"
    ]
    streak.failed(OSError("again"))  # a new streak: its traceback again
    assert _records(caplog)[-1].exc_info is not None


def test_a_long_streak_says_it_goes_on_every_so_often(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    streak = FailureStreak(log, "event feed", every=0.0)
    streak.failed(OSError("one"))
    streak.failed(OSError("two"))
    records = _records(caplog)
    assert len(records) == 2 and records[1].exc_info is None
    assert records[1].getMessage().startswith("event feed still failing: 2 tries in ")
    assert records[1].getMessage().endswith("the last: two")
