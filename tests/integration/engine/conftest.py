"""Engine fixtures: ``app`` runs every test once per backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from quaero import App, Settings
from tests.conftest import close_or_fail
from tests.integration.store.pgdb import PG_URL, PgDatabases


def make_settings(tmp_path: Path, url: str | None = None) -> Settings:
    s = Settings()
    s.store.url = url or f"sqlite:///{tmp_path}/quaero.db"
    s.worker.lease_seconds = 1.0
    s.worker.poll_interval = 0.1
    s.worker.backoff_base = 0.01
    s.worker.backoff_max = 0.05
    s.events.poll_interval = 0.05
    return s


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def app(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases
) -> AsyncIterator[App]:
    url = None
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
        url = await pg_databases.create()
    a = App(make_settings(tmp_path, url))
    try:
        await a.open()
        try:
            yield a
        finally:
            await close_or_fail(a.close, f"the App on {request.param}")
    finally:
        if url is not None:
            await pg_databases.drop(url)
