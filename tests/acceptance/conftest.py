"""Acceptance fixtures: ``url`` is a fresh store, once per backend (SQLite, PostgreSQL),
for tests that run real ``quaero`` processes against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.store.pgdb import PG_URL, PgDatabases


@pytest.fixture(scope="module")
def pg_databases() -> PgDatabases:
    return PgDatabases()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/quaero.db"
        return
    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    u = await pg_databases.create()
    yield u
    await pg_databases.drop(u)
