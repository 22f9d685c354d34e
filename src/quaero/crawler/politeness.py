"""Per-host politeness: a minimum interval between request starts to one host.

:class:`HostThrottle` hands out time slots. A caller reserves the next slot
for its host synchronously (no ``await`` between reading and writing the
schedule, so it is safe with any number of concurrent asyncio tasks) and then
sleeps until its slot. With a delay of 0 and no back-off it costs one dict
lookup. ``defer(host, seconds)`` pushes every later request to that host
back, which is how a ``Retry-After`` answer slows the whole crawl down for
that host, not just the one retried URL.

**Shared by every process.** ``share(store)`` makes hosts with an interval (the
crawl's ``delay``, robots.txt ``Crawl-delay``) take turns through the store, so
any number of worker processes and machines on one store keep one contract per
host: **one request in flight at a time, and the next one starts at least the
interval after the previous one ended** (``done(host)``, called by the fetcher
when a request is over, records its end). Because each start waits for the
previous request's recorded end, the host sees its requests at least the
interval apart whatever the processes' scheduling delays; the cost is the
request's own duration on top of the interval. A caller first takes a slot in
line (:meth:`~quaero.store.base.Store.reserve_host_slot`, one interval apart,
so waiting fetches do not stampede), then asks for the host at that time
(:meth:`~quaero.store.base.Store.acquire_host`, a lease of :data:`TURN_LEASE` seconds
renewed while the request is in flight, up to ``hold`` seconds in all, so that a
process that dies mid-request frees the host within seconds). ``defer`` (Retry-After) is recorded in the
store too. Hosts with no interval cost no database round trip (as before,
deferrals then stay in the process). The crawl's ``concurrency`` and
``max_connections_per_host`` stay per process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from ..shutdown import CLOSE_TIMEOUT

__all__ = ["HostLedger", "HostThrottle"]

log = logging.getLogger(__name__)

_PRUNE_AT = 10_000
#: seconds a shared turn is held at most by default (a request longer than this lets the
#: next one start)
HOLD = 120.0
#: seconds a shared turn is held between two renewals (every third of it while its request
#: is in flight): a process killed mid-request blocks the host for no longer than this.
#: Held for all of ``hold`` at once, a crawl killed and resumed waited a minute for its
#: own host.
TURN_LEASE = 5.0
#: seconds before asking again while another request holds the host (at first; capped
#: to interval / 4, then doubling up to the interval)
POLL = 0.02


class HostLedger(Protocol):
    """Where shared turns come from (every :class:`~quaero.store.base.Store` is one)."""

    async def reserve_host_slot(self, host: str, interval: float) -> float: ...

    async def acquire_host(self, host: str, token: str, hold: float, poll: float) -> float: ...

    async def renew_host(self, host: str, token: str, hold: float) -> bool: ...

    async def release_host(self, host: str, token: str, interval: float) -> None: ...

    async def defer_host(self, host: str, seconds: float) -> None: ...


class HostThrottle:
    """Schedules request starts so one host sees at most one request per ``delay``."""

    def __init__(self, min_delay: float = 0.0, ledger: HostLedger | None = None) -> None:
        self.min_delay = max(0.0, float(min_delay))
        self._next: dict[str, float] = {}
        self._delays: dict[str, float] = {}
        self._ledger = ledger
        self.hold = HOLD
        self.turn_lease = TURN_LEASE
        self._pending: set[asyncio.Task[None]] = set()
        #: host -> the task renewing the shared turn this throttle holds on it
        self._renewals: dict[str, asyncio.Task[None]] = {}
        #: host -> the token of the shared turn this throttle holds on it
        self._held: dict[str, str] = {}
        #: asks for a shared turn that had to wait again (another request held the host)
        self.polls = 0

    def share(self, ledger: HostLedger | None, hold: float = HOLD) -> None:
        """Take turns on hosts with an interval through ``ledger`` (the store), shared by
        every process using it; None goes back to this process only. ``hold``: seconds
        a turn lasts at most (at least one request's timeout)."""
        self._ledger = ledger
        self.hold = hold

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
        if self._ledger is not None:
            task = asyncio.get_running_loop().create_task(self._share_defer(host, seconds))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _share_defer(self, host: str, seconds: float) -> None:
        assert self._ledger is not None
        try:
            await self._ledger.defer_host(host, seconds)
        except Exception as exc:  # this process still defers; others will see a 429
            log.warning("could not share the deferral of %s: %s", host, exc)

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
        if self._ledger is not None:
            interval = self.delay_for(host)
            if interval > 0:
                return await self._wait_shared(host, interval)
        wait = self.reserve(host)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def _wait_shared(self, host: str, interval: float) -> float:
        ledger = self._ledger
        assert ledger is not None
        loop = asyncio.get_running_loop()
        began = loop.time()
        local = self._next.get(host)
        if local is not None and local > began:  # a Retry-After this process saw
            await asyncio.sleep(local - began)
        wait = await ledger.reserve_host_slot(host, interval)
        if wait > 0:
            await asyncio.sleep(wait)
        token = uuid.uuid4().hex
        poll = min(POLL, interval / 4)
        try:
            lease = min(self.hold, self.turn_lease)
            while (wait := await ledger.acquire_host(host, token, lease, poll)) > 0:
                self.polls += 1
                await asyncio.sleep(wait)
                # a slow host: requests longer than the interval leave waiters due; ask
                # less often the longer the host stays held (at most once per interval)
                poll = min(2 * poll, max(interval, POLL))
        except BaseException:
            self._release_soon(host, token, interval)  # the store may have granted it
            raise
        self._held[host] = token
        if self.hold > lease:
            self._renewals[host] = loop.create_task(self._renew(host, token))
        return loop.time() - began

    async def _renew(self, host: str, token: str) -> None:
        """Keep ``token``'s turn on ``host`` while its request is in flight, ``hold``
        seconds at most."""
        ledger = self._ledger
        assert ledger is not None
        loop = asyncio.get_running_loop()
        until = loop.time() + self.hold
        while True:
            await asyncio.sleep(self.turn_lease / 3)
            left = until - loop.time()
            if left <= 0:
                return
            try:
                if not await ledger.renew_host(host, token, min(self.turn_lease, left)):
                    return
            except Exception as exc:  # the lease runs out; the next renewal tries again
                log.warning("could not renew the turn on %s: %s", host, exc)

    def done(self, host: str) -> None:
        """The request to ``host`` that :meth:`wait` admitted is over (answered, failed or
        abandoned): with a shared turn, the host is freed and its next request may start
        one interval from now. Safe to call when no turn is held."""
        token = self._held.pop(host, None)
        renewal = self._renewals.pop(host, None)
        if renewal is not None:
            renewal.cancel()
        if token is not None:
            self._release_soon(host, token, self.delay_for(host))

    def _release_soon(self, host: str, token: str, interval: float) -> None:
        task = asyncio.get_running_loop().create_task(self._release(host, token, interval))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _release(self, host: str, token: str, interval: float) -> None:
        assert self._ledger is not None
        try:
            await self._ledger.release_host(host, token, interval)
        except Exception as exc:  # the lease runs out after `hold` seconds
            log.warning("could not release the turn on %s: %s", host, exc)

    async def close(self) -> None:
        """Wait (bounded) for the releases and deferrals still on their way to the
        store: a process that exits right after a request must give its turn back, or
        every other process waits for that host until the turn's lease runs out."""
        for renewal in self._renewals.values():
            renewal.cancel()
        self._renewals.clear()
        if self._pending:
            _, left = await asyncio.wait(set(self._pending), timeout=CLOSE_TIMEOUT)
            if left:
                log.warning("%d host turn update(s) did not reach the store", len(left))

    def _prune(self, now: float) -> None:
        for host in [h for h, t in self._next.items() if t <= now]:
            del self._next[host]
