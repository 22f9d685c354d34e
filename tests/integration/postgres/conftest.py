"""PostgreSQL-only integration tests: each gets a fresh migrated database (``pg_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.store.pgdb import PG_URL, PgDatabases

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_url(pg_databases: PgDatabases) -> AsyncIterator[str]:
    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    url = await pg_databases.create()
    yield url
    await pg_databases.drop(url)
