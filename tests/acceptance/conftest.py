"""Acceptance fixtures: ``url`` is a fresh store, once per backend (SQLite, PostgreSQL),
for tests that run real ``quaero`` processes against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.store.pgdb import BACKENDS, PgDatabases, backend_url


@pytest.fixture(scope="module")
def pg_databases() -> PgDatabases:
    return PgDatabases()


@pytest.fixture(params=BACKENDS)
async def url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases
) -> AsyncIterator[str]:
    async for u in backend_url(request.param, tmp_path, pg_databases):
        yield u
