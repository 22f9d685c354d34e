"""Crawl politeness on SQLite: per-host turns shared by every process on the file.

Each operation is a read-modify-write of one ``crawl_hosts`` row in the writer's
transaction (``BEGIN IMMEDIATE``), so processes on one file take turns; times are epoch
seconds, exact for every process of the one machine SQLite runs on.
"""

from __future__ import annotations

import time

from .sqlite_base import SqliteBase
from .sqlite_writer import TxContext

__all__ = ["SqliteHosts"]

_ENSURE = "INSERT INTO crawl_hosts (host) VALUES (?) ON CONFLICT (host) DO NOTHING"
_ROW = "SELECT next_slot, free_at, holder, held_until FROM crawl_hosts WHERE host = ?"


class SqliteHosts(SqliteBase):
    async def reserve_host_slot(self, host: str, interval: float, lead: float = 0.0) -> float:
        def op(ctx: TxContext) -> float:
            ctx.conn.execute(_ENSURE, (host,))
            next_slot, free_at, _, _ = ctx.conn.execute(_ROW, (host,)).fetchone()
            # not ctx.now: the group may have begun a while ago
            start = max(next_slot, free_at, time.time() + max(0.0, lead))
            ctx.conn.execute(
                "UPDATE crawl_hosts SET next_slot = ? WHERE host = ?",
                (start + max(0.0, interval), host),
            )
            return float(start)

        start = await self._write(op)
        return start - time.time()

    async def acquire_host(self, host: str, token: str, hold: float, poll: float) -> float:
        def op(ctx: TxContext) -> float:
            ctx.conn.execute(_ENSURE, (host,))
            _, free_at, holder, held_until = ctx.conn.execute(_ROW, (host,)).fetchone()
            now = time.time()
            if holder is not None and holder != token and held_until > now:
                return float(min(poll, held_until - now))
            if free_at > now:
                return float(free_at - now)
            ctx.conn.execute(
                "UPDATE crawl_hosts SET holder = ?, held_until = ? WHERE host = ?",
                (token, now + hold, host),
            )
            return 0.0

        return await self._write(op)

    async def renew_host(self, host: str, token: str, hold: float) -> bool:
        def op(ctx: TxContext) -> bool:
            cur = ctx.conn.execute(
                "UPDATE crawl_hosts SET held_until = max(held_until, ?)"
                " WHERE host = ? AND holder = ?",
                (time.time() + hold, host, token),
            )
            return cur.rowcount > 0

        return await self._write(op)

    async def release_host(self, host: str, token: str, interval: float) -> None:
        def op(ctx: TxContext) -> None:
            ctx.conn.execute(
                "UPDATE crawl_hosts SET holder = NULL, held_until = 0,"
                " free_at = max(free_at, ?) WHERE host = ? AND holder = ?",
                (time.time() + max(0.0, interval), host, token),
            )

        await self._write(op)

    async def defer_host(self, host: str, seconds: float) -> None:
        if seconds <= 0:
            return

        def op(ctx: TxContext) -> None:
            ctx.conn.execute(_ENSURE, (host,))
            ctx.conn.execute(
                "UPDATE crawl_hosts SET free_at = max(free_at, ?) WHERE host = ?",
                (time.time() + seconds, host),
            )

        await self._write(op)
