"""Per-host politeness: a minimum interval between request starts to one host.

:class:`HostThrottle` hands out time slots. A caller reserves the next slot
for its host synchronously (no ``await`` between reading and writing the
schedule, so it is safe with any number of concurrent asyncio tasks) and then
sleeps until its slot. With a delay of 0 and no back-off it costs one dict
lookup. ``defer(host, seconds)`` pushes every later request to that host
back, which is how a ``Retry-After`` answer slows the whole crawl down for
that host, not just the one retried URL.
"""

from __future__ import annotations

import asyncio

__all__ = ["HostThrottle"]

_PRUNE_AT = 10_000


class HostThrottle:
    """Schedules request starts so one host sees at most one request per ``delay``."""

    def __init__(self, min_delay: float = 0.0) -> None:
        self.min_delay = max(0.0, float(min_delay))
        self._next: dict[str, float] = {}
        self._delays: dict[str, float] = {}

    def set_delay(self, host: str, delay: float | None) -> None:
        """Set the interval for ``host`` (e.g. a robots.txt ``Crawl-delay``).

        The effective interval is ``max(min_delay, delay)``; ``None`` resets it.
        """
        if delay is None:
            self._delays.pop(host, None)
        else:
            self._delays[host] = max(self.min_delay, float(delay))

    def delay_for(self, host: str) -> float:
        """The interval currently applied to ``host``."""
        return self._delays.get(host, self.min_delay)

    def defer(self, host: str, seconds: float) -> None:
        """Start no request to ``host`` for the next ``seconds`` seconds."""
        if seconds <= 0:
            return
        now = asyncio.get_running_loop().time()
        self._next[host] = max(self._next.get(host, 0.0), now + seconds)

    def reserve(self, host: str) -> float:
        """Reserve the next slot for ``host``; return how long to wait for it (seconds)."""
        slot = self._next.get(host)
        delay = self._delays.get(host, self.min_delay)
        if slot is None and delay <= 0:
            return 0.0
        now = asyncio.get_running_loop().time()
        start = now if slot is None or slot < now else slot
        if delay > 0 or start > now:
            self._next[host] = start + delay
        else:
            self._next.pop(host, None)
        if len(self._next) > _PRUNE_AT:
            self._prune(now)
        return start - now

    async def wait(self, host: str) -> float:
        """Wait for ``host``'s next slot; return the seconds waited."""
        wait = self.reserve(host)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def _prune(self, now: float) -> None:
        for host in [h for h, t in self._next.items() if t <= now]:
            del self._next[host]
