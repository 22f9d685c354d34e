from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from quaero import App, Settings


def make_settings(tmp_path: Path) -> Settings:
    s = Settings()
    s.store.url = f"sqlite:///{tmp_path}/quaero.db"
    s.worker.lease_seconds = 1.0
    s.worker.poll_interval = 0.1
    s.worker.backoff_base = 0.01
    s.worker.backoff_max = 0.05
    s.events.poll_interval = 0.05
    return s


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    a = App(make_settings(tmp_path))
    async with a:
        yield a
