"""Fixtures every integration test may use: ``pg_databases`` (fresh migrated PostgreSQL
databases from one template per session) and ``store_url`` (a fresh store, once per
backend: a SQLite file, or a PostgreSQL database, skipped without a test server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.store.pgdb import BACKENDS, PgDatabases, backend_url


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_template()


@pytest.fixture(params=BACKENDS)
async def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases
) -> AsyncIterator[str]:
    async for url in backend_url(request.param, tmp_path, pg_databases):
        yield url
