"""The LISTEN connection comes back after it is lost, whatever fails on the way back."""

from __future__ import annotations

import asyncio

import asyncpg

from quaero.store.postgres_listen import CHANNEL, Listener


async def test_the_listener_reconnects_after_a_reconnect_attempt_of_any_failure(
    pg_url: str,
) -> None:
    attempts = 0

    async def connect() -> asyncpg.Connection:
        nonlocal attempts
        attempts += 1
        conn = await asyncpg.connect(pg_url)
        if attempts == 2:  # the first reconnect: the connection drops during its set-up
            await conn.close()
        return conn

    got: list[int] = []
    listener = Listener(connect, got.append)
    await listener.start()
    admin = await asyncpg.connect(pg_url)
    try:
        assert listener._conn is not None
        await admin.execute("SELECT pg_terminate_backend($1)", listener._conn.get_server_pid())
        async with asyncio.timeout(15):  # the old watcher died on the InterfaceError
            while -1 not in got:
                await asyncio.sleep(0.02)
        assert attempts == 3
        await admin.execute(f"NOTIFY {CHANNEL}, '7'")
        async with asyncio.timeout(10):
            while 7 not in got:
                await asyncio.sleep(0.02)
        # the listener's connection only (the terminated one ends soon after its signal)
        async with asyncio.timeout(10):
            while (
                await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
                != 1
            ):
                await asyncio.sleep(0.05)
    finally:
        await admin.close()
        await listener.stop()
