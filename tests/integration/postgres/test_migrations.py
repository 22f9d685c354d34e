"""Migrations on PostgreSQL: many processes may start at once on an empty database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from quaero.store.migrations import load_migrations
from quaero.store.postgres import PostgresStore
from tests.integration.store.pgdb import PgDatabases

pytestmark = pytest.mark.postgres

QUAERO = str(Path(sys.executable).with_name("quaero"))


async def test_processes_starting_together_migrate_once(
    pg_url: str, pg_databases: PgDatabases
) -> None:
    empty = await pg_databases.create(migrated=False)
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                QUAERO,
                "--db",
                empty,
                "db",
                "migrate",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        outs = await asyncio.gather(*(p.communicate() for p in procs))
        latest = load_migrations("postgres")[-1][0]
        for p, (out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err.decode()
            assert f"schema version {latest}" in out.decode()
        store = PostgresStore(empty)
        await store.open()
        try:
            assert await store.schema_version() == latest
            applied = await store.pool.fetchval("SELECT count(*) FROM schema_version")
            assert applied == len(load_migrations("postgres"))
        finally:
            await store.close()
    finally:
        await pg_databases.drop(empty)
