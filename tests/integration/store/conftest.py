"""The store contract fixtures: every test runs once per backend (SQLite, PostgreSQL).

``store`` is an open store on a fresh database whose ``on_commit`` events are collected in
``store.committed`` (``Recorder``); PostgreSQL tests are skipped with a reason when
``QUAERO_TEST_PG_URL`` is unset.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from quaero.events.types import Event
from quaero.store.base import Store, open_store

from ...conftest import close_or_fail


class Recorder:
    """Collects the events handed to ``on_commit`` and counts ``on_wake`` calls."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.wakes = 0

    def on_commit(self, events: list[Event]) -> None:
        self.events.extend(events)

    def on_wake(self) -> None:
        self.wakes += 1


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def store(store_url: str, recorder: Recorder) -> AsyncIterator[Store]:
    s = open_store(store_url, on_commit=recorder.on_commit, on_wake=recorder.on_wake)
    await s.open()
    try:
        yield s
    finally:
        await close_or_fail(s.close, f"the {s.dialect} store")
