"""Crawl politeness on PostgreSQL: per-host turns shared by every process.

Each operation is one atomic statement on the host's ``crawl_hosts`` row (concurrent
callers queue on its row lock for microseconds). Times are the database's clock
(``clock_timestamp()``), so the workers' clocks need not agree: answers are waits.
"""

from __future__ import annotations

from .postgres_base import PgBase

__all__ = ["PgHosts"]

_ENSURE = "INSERT INTO crawl_hosts (host) VALUES ($1) ON CONFLICT (host) DO NOTHING"

# the wait until the reserved slot (its start = the new next_slot - interval)
_RESERVE = """
UPDATE crawl_hosts
SET next_slot = greatest(next_slot, free_at, clock_timestamp() + make_interval(secs => $3))
                + make_interval(secs => $2)
WHERE host = $1
RETURNING extract(epoch FROM next_slot - make_interval(secs => $2) - clock_timestamp())::float8
"""

# 0: the turn is ours; else how long to wait before asking again
_ACQUIRE = """
WITH h AS (
    SELECT host, free_at, holder, held_until, clock_timestamp() AS now
    FROM crawl_hosts WHERE host = $1 FOR UPDATE
), took AS (
    UPDATE crawl_hosts c
    SET holder = $2, held_until = h.now + make_interval(secs => $3)
    FROM h
    WHERE c.host = h.host AND h.free_at <= h.now
      AND (h.holder IS NULL OR h.holder = $2 OR h.held_until <= h.now)
    RETURNING 1
)
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM took) THEN 0.0
    WHEN h.holder IS NOT NULL AND h.held_until > h.now
        THEN least($4::float8, extract(epoch FROM h.held_until - h.now)::float8)
    ELSE extract(epoch FROM h.free_at - h.now)::float8
END
FROM h
"""

_RELEASE = """
UPDATE crawl_hosts
SET holder = NULL, held_until = '-infinity',
    free_at = greatest(free_at, clock_timestamp() + make_interval(secs => $3))
WHERE host = $1 AND holder = $2
"""

_RENEW = """
UPDATE crawl_hosts
SET held_until = greatest(held_until, clock_timestamp() + make_interval(secs => $3))
WHERE host = $1 AND holder = $2
"""

_DEFER = """
INSERT INTO crawl_hosts AS h (host, free_at)
VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (host) DO UPDATE SET free_at = greatest(h.free_at, excluded.free_at)
"""


class PgHosts(PgBase):
    async def reserve_host_slot(self, host: str, interval: float, lead: float = 0.0) -> float:
        async with self.pool.acquire() as conn:
            await conn.execute(_ENSURE, host)
            return float(await conn.fetchval(_RESERVE, host, max(0.0, interval), max(0.0, lead)))

    async def acquire_host(self, host: str, token: str, hold: float, poll: float) -> float:
        async with self.pool.acquire() as conn:
            await conn.execute(_ENSURE, host)
            return float(await conn.fetchval(_ACQUIRE, host, token, float(hold), float(poll)))

    async def renew_host(self, host: str, token: str, hold: float) -> bool:
        status = await self.pool.execute(_RENEW, host, token, float(hold))
        return str(status) != "UPDATE 0"

    async def release_host(self, host: str, token: str, interval: float) -> None:
        await self.pool.execute(_RELEASE, host, token, max(0.0, interval))

    async def defer_host(self, host: str, seconds: float) -> None:
        if seconds > 0:
            await self.pool.execute(_DEFER, host, float(seconds))
