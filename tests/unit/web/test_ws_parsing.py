"""Filters, subscription parsing, the Origin rule, the token check and the rate window."""

from __future__ import annotations

from typing import Any

import pytest

from quaero.config import Settings
from quaero.events.types import Event
from quaero.web.deps import token_ok
from quaero.web.hub import Filter
from quaero.web.metrics import RateWindow
from quaero.web.ws import parse_subscription


def ev(type_: str, job_id: int | None, root_id: int | None) -> Event:
    return Event(1, type_, job_id, root_id, {}, 0.0)


class FakeHub:
    def __init__(self, allowed: list[str]) -> None:
        self.allowed = frozenset(allowed)

    def make_filter(self, types: Any, job_ids: Any, tree: bool, top_level: bool) -> Filter:
        from quaero.web.hub import Hub

        return Hub.make_filter(self, types, job_ids, tree, top_level)  # type: ignore[arg-type]


def test_filter_matching() -> None:
    assert Filter().matches(ev("log", 5, 1))
    assert not Filter(types=frozenset()).matches(ev("log", 5, 1))
    assert Filter(types=frozenset({"log"})).matches(ev("log", 5, 1))
    assert not Filter(types=frozenset({"log"})).matches(ev("job_created", 5, 1))
    exact = Filter(job_ids=frozenset({1}))
    assert exact.matches(ev("log", 1, 1)) and not exact.matches(ev("log", 5, 1))
    tree = Filter(job_ids=frozenset({1}), tree=True)
    assert tree.matches(ev("log", 5, 1)) and not tree.matches(ev("log", 5, 2))
    top = Filter(top_level=True)
    assert top.matches(ev("parent_job_progress", 1, 1))
    assert not top.matches(ev("job_status_change", 5, 1))
    # a crawl page's document_saved is about its crawl: the jobs page counts documents
    assert top.matches(ev("document_saved", 5, 1))


def test_parse_subscription_and_whitelist() -> None:
    hub: Any = FakeHub([])
    f = parse_subscription(hub, {"types": "log,job_created", "job_ids": "1, 2", "tree": "1"})
    assert f.types == {"log", "job_created"} and f.job_ids == {1, 2} and f.tree
    f = parse_subscription(hub, {"event_types": [], "job_ids": [], "top_level": True})
    assert f.types is None and f.top_level
    hub = FakeHub(["parent_job_progress"])
    assert parse_subscription(hub, {}).types == {"parent_job_progress"}
    assert parse_subscription(hub, {"types": "log"}).types == frozenset()
    for bad in (
        {"job_ids": "1,x"},
        {"types": "Bad!"},
        {"job_ids": list(range(1001))},
        {"job_ids": [2**63]},
        {"job_ids": "9223372036854775808"},
        {"job_ids": [0]},
        {"job_ids": [-1]},
        {"job_ids": [1.5]},
    ):
        with pytest.raises(ValueError):
            parse_subscription(FakeHub([]), bad)  # type: ignore[arg-type]


def test_token_check() -> None:
    s = Settings()
    assert token_ok(s, None, None)
    s.server.api_token = "t"
    assert not token_ok(s, None, None)
    assert token_ok(s, "Bearer t", None) and token_ok(s, "bearer t", None)
    assert token_ok(s, None, "t") and not token_ok(s, "Bearer x", None)


def test_rate_window() -> None:
    w = RateWindow(10)
    for second in range(100, 110):
        w.add(5, now=second + 0.5)
    assert w.rate(now=110.2) == pytest.approx(5.0)
    assert w.rate(now=130.0) == 0.0
