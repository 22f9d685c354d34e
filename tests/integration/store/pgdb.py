"""Fresh PostgreSQL databases for tests: one migrated template, cloned per test.

``QUAERO_TEST_PG_URL`` names a server and a database the role may ``CREATE DATABASE``
from (``make test`` starts a throwaway cluster and sets it). Cloning a migrated template
(``CREATE DATABASE ... TEMPLATE``) takes a few tens of milliseconds, so every test gets an
empty, migrated database of its own and tests cannot see each other's rows, advisory locks
or notifications.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from quaero.store.postgres import PostgresStore

__all__ = ["BACKENDS", "PG_URL", "PgDatabases", "backend_url", "requires_pg"]

PG_URL = os.environ.get("QUAERO_TEST_PG_URL", "")
#: seconds any one admin step (connect, CREATE/DROP DATABASE) may take before the test
#: fails saying so (DROP ... WITH (FORCE) itself gives up after 5 s on stuck sessions)
ADMIN_TIMEOUT = 20.0

requires_pg = pytest.mark.skipif(
    not PG_URL, reason="QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)"
)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class PgDatabases:
    """Creates ``quaero_t<pid>_<n>`` databases from a migrated template, drops them after."""

    def __init__(self, url: str = PG_URL) -> None:
        self.url = url
        self.prefix = f"quaero_t{os.getpid()}"
        self.template = f"{self.prefix}_tpl"
        self._n = itertools.count(1)
        self._ready = False

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url, timeout=ADMIN_TIMEOUT)

    async def _run_admin(self, what: str, *statements: str) -> None:
        """Run statements on an admin connection, each bounded; a failure or a timeout
        fails the test at once, saying what could not be cleaned up (never a hang)."""
        try:
            async with asyncio.timeout(ADMIN_TIMEOUT * (len(statements) + 1)):
                conn = await self._admin()
                try:
                    for sql in statements:
                        await conn.execute(sql, timeout=ADMIN_TIMEOUT)
                finally:
                    await conn.close(timeout=ADMIN_TIMEOUT)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            pytest.fail(f"PostgreSQL test fixture could not {what}: {exc!r}", pytrace=False)

    async def _ensure_template(self) -> None:
        if self._ready:
            return
        await self._run_admin(
            f"create {self.template}",
            f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)',
            f'CREATE DATABASE "{self.template}"',
        )
        store = PostgresStore(with_database(self.url, self.template))
        await store.open()  # applies the migrations once
        await store.close()
        self._ready = True

    async def create(self, migrated: bool = True) -> str:
        """A fresh database (migrated, or empty); returns its URL."""
        if migrated:
            await self._ensure_template()
        name = f"{self.prefix}_{next(self._n)}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        await self._run_admin(
            f"create {name}",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"{template}',
        )
        return with_database(self.url, name)

    async def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        await self._run_admin(f"drop {name}", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_template(self) -> None:
        if not self._ready:
            return

        asyncio.run(
            self._run_admin(
                f"drop {self.template}", f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'
            )
        )


#: ``params`` of a fixture that runs a test once per backend
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def backend_url(backend: str, tmp_path: Path, dbs: PgDatabases) -> AsyncIterator[str]:
    """The body of a per-backend store fixture: a SQLite file in ``tmp_path``, or a fresh
    migrated PostgreSQL database dropped afterwards (skips without a test server)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/quaero.db"
        return
    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    url = await dbs.create()
    yield url
    await dbs.drop(url)
