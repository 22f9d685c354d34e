"""The explain read model as a pure function of a job, its child facts and the workers."""

from __future__ import annotations

import pytest

from quaero.config import load_settings
from quaero.errors import ConfigError, InvalidJobSpec
from quaero.jobs.explain import ChildFacts, PendingType, RunningChild, explain
from quaero.jobs.models import Counters, Job, JobStatus
from quaero.jobs.registry import Registry
from quaero.jobs.worker_registry import WorkerInfo, served_types, worker_to_dict

NOW = 1_800_000_000.0


def live(wid: str = "w1", types: tuple[str, ...] = ("noop",)) -> WorkerInfo:
    return WorkerInfo(wid, "h", 1, NOW - 100, 8, list(types), 0, 0, NOW - 1, NOW + 29)


def kinds(answer: dict[str, object]) -> list[str]:
    return [r["kind"] for r in answer["reasons"]]  # type: ignore[attr-defined, index]


def test_waiting_parent_whose_children_all_finished_is_finishing() -> None:
    job = Job(1, "fanout", JobStatus.RUNNING, waiting=True, children=Counters(2, completed=2))
    answer = explain(job, None, [live()], NOW)
    assert kinds(answer) == ["finishing"]
    assert "(as completed)" in answer["summary"][0]


def test_handler_on_a_worker_missing_from_the_registry() -> None:
    job = Job(
        1,
        "noop",
        JobStatus.RUNNING,
        lease_owner="gone",
        heartbeat_at=NOW - 3,
        lease_expires_at=NOW + 5,
        attempts=2,
        max_attempts=3,
    )
    answer = explain(job, None, [live()], NOW)
    assert kinds(answer) == ["handler_running"]
    assert "(that worker is not in the live registry)" in answer["summary"][0]
    assert "attempt 2/3, last heartbeat 3.0 s ago" in answer["summary"][0]
    assert answer["handler"]["heartbeat_age_seconds"] == 3.0  # type: ignore[index]


def test_last_attempt_lease_expiry_says_it_will_fail() -> None:
    job = Job(1, "noop", JobStatus.RUNNING, lease_owner="w", lease_expires_at=NOW - 2, attempts=3)
    answer = explain(job, None, [live()], NOW)
    assert "fail it (last attempt)" in answer["summary"][0]


def test_capped_counts_are_lower_bounds() -> None:
    job = Job(1, "fanout", JobStatus.RUNNING, waiting=True, children=Counters(50_000, 50_000))
    facts = ChildFacts(
        pending=[PendingType("noop", 10_000, 10_000, NOW + 5, 10_000, NOW + 5, exact=False)]
    )
    answer = explain(job, facts, [live()], NOW)
    pending = answer["children"]["pending"]  # type: ignore[index]
    assert pending["exact"] is False and pending["due"] is None
    assert "of which at least 10,000 not due yet" in answer["summary"][0]
    assert answer["summary"][1].startswith("at least 10,000 retries scheduled")


def test_running_children_with_more_than_the_scan() -> None:
    job = Job(1, "fanout", JobStatus.RUNNING, waiting=True, children=Counters(5, running=5))
    rows = [RunningChild(i, "noop", "w1", NOW - i, NOW + 10, False) for i in (2, 3)]
    answer = explain(job, ChildFacts(running=rows), [live()], NOW)
    running = answer["children"]["running"]  # type: ignore[index]
    assert running["exact"] is False and running["scanned"] == 2
    assert answer["summary"] == [
        "5 children running: at least 2 in their handlers (oldest heartbeat 3.0 s ago)"
    ]


def test_served_types_and_worker_json() -> None:
    dead = WorkerInfo("d", "h", 2, NOW - 500, 4, ["crawl"], 0, 0, NOW - 100, NOW - 70)
    assert served_types([live(types=("a", "b")), dead], NOW) == {"a", "b"}
    d = worker_to_dict(dead, NOW)
    assert d["live"] is False and d["heartbeat_age_seconds"] == 100.0


def test_registry_accepts_registered_external_or_any() -> None:
    r = Registry(["remote"])
    assert r.accepts("remote") and not r.accepts("other")
    assert r.validate("remote", {"x": 1}) == {"x": 1}
    with pytest.raises(InvalidJobSpec, match=r"unknown job type 'other' \(registered: none; "):
        r.check_type("other")
    assert Registry(allow_unregistered=True).accepts("anything")


def test_jobs_settings_from_the_environment() -> None:
    s = load_settings(
        env={"QUAERO_JOBS_EXTERNAL_TYPES": "a, b", "QUAERO_JOBS_ALLOW_UNREGISTERED_TYPES": "yes"}
    )
    assert s.jobs.external_types == ["a", "b"] and s.jobs.allow_unregistered_types is True
    with pytest.raises(ConfigError, match=r"jobs\.external_types: 'a b' is not a job type name"):
        load_settings(env={"QUAERO_JOBS_EXTERNAL_TYPES": "a b"})


def test_own_type_unserved_sentence() -> None:
    job = Job(1, "remote", JobStatus.PENDING, available_at=NOW - 1)
    answer = explain(job, None, [live()], NOW, external_types={"remote"})
    assert answer["summary"][1] == (
        "It is of type 'remote', which no live worker serves "
        "(an external type: run a worker that registers it)"
    )


def test_a_finished_parent_says_why_in_words_and_plain_time() -> None:
    from quaero.jobs.explain import explain
    from quaero.jobs.models import Counters, Job, JobStatus

    job = Job(id=1, job_type="fanout", status=JobStatus.FAILED, completed_at=1_764_504_035.5)
    job.children = Counters(total=50, completed=47, failed=3)
    answer = explain(job, None, [], now=1_764_504_100.0)
    [sentence] = answer["summary"]
    assert sentence == (
        "It is done: failed at 2025-11-30 12:00:35 UTC because of its children: 3 failed of 50"
    )


def busy(wid: str, types: tuple[str, ...], running: int, slots: int = 8) -> WorkerInfo:
    return WorkerInfo(wid, "h", 1, NOW - 100, slots, list(types), running, 0, NOW - 1, NOW + 29)


def test_a_due_job_behind_busy_workers_says_every_slot_is_busy() -> None:
    """A crawl submitted behind a big fan-out waited with "waiting for a worker to claim
    it" while every slot ran the fan-out's children (found by a fresh user)."""
    job = Job(1, "crawl", JobStatus.PENDING, available_at=NOW - 13)
    workers = [busy("a", ("crawl", "noop"), 8), busy("b", ("crawl",), 9), busy("c", ("x",), 0)]
    answer = explain(job, None, workers, NOW)
    assert answer["summary"] == [
        "It is pending and due since 13.0 s: waiting for a worker to claim it; every slot"
        " of the live workers serving 'crawl' is busy (17 of 16)"
    ]
    [reason] = answer["reasons"]
    assert (reason["slots"], reason["slots_in_use"]) == (16, 17)
    # a free slot by the last heartbeats proves nothing (taken since?): not said
    workers[1] = busy("b", ("crawl",), 3)
    answer = explain(job, None, workers, NOW)
    assert answer["summary"] == [
        "It is pending and due since 13.0 s: waiting for a worker to claim it"
    ]
    assert (answer["reasons"][0]["slots"], answer["reasons"][0]["slots_in_use"]) == (16, 11)


def test_due_children_say_when_every_slot_is_busy() -> None:
    """The registry's running count is its last heartbeat's: the running children just
    read (by lease owner) count too, so 16 running children never read as 0 of 16."""
    job = Job(1, "fanout", JobStatus.RUNNING, waiting=True, children=Counters(30, 14, 16))
    facts = ChildFacts(
        pending=[PendingType("noop", 14, 0, None, 0, None, exact=True)],
        running=[RunningChild(i, "noop", "a", NOW - 1, NOW + 29, False) for i in range(16)],
    )
    stale = [busy("a", ("fanout", "noop"), 0, slots=16), busy("c", ("x",), 0)]
    answer = explain(job, facts, stale, NOW)
    assert answer["summary"][0] == (
        "14 children pending, all due: waiting for a free worker slot; every slot of the live"
        " workers serving them is busy (16 of 16)"
    )
    facts.running = facts.running[:10]
    answer = explain(job, facts, stale, NOW)
    assert answer["summary"][0] == "14 children pending, all due: waiting for a free worker slot"
