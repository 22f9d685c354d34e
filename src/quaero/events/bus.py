"""The in-process event bus: ordered, asynchronous delivery fed by the durable event log.

Every event is first committed to the store's event log with a sequence number. The bus
is fed from two sides, merged by one feeder task that keeps sequence order:

- the fast path: the store calls :meth:`EventBus.feed` with the events of each local
  commit (SQLite: this process's writer thread);
- the log itself: when a batch does not follow the last delivered ``seq`` (another
  process committed in between), or when :meth:`poll` finds newer events, the missing
  range is read from the store first.

Each subscriber has its own queue and task, so a slow subscriber never blocks the
publisher or other subscribers, and it receives events strictly in ``seq`` order.
``subscribe(after_seq=N)`` replays everything after ``N`` from the log, then continues
live, with no gap and no duplicate. When it cannot (``N`` is older than the retained log,
which was pruned, or beyond its end, e.g. a reset database), the handler first gets a
``gap`` event (whatever its filters) that says so, with the same meaning as the
WebSocket's ``snapshot``: ``payload = {"reason": "expired" | "unknown_seq", "after_seq":
N, "missing_from", "missing_to", "first_seq", "last_seq"}`` and ``seq`` the position
delivery goes on from (``missing_to``: the events ``missing_from..missing_to`` are gone;
``reason: "unknown_seq"``: none is missing, the log simply restarts below ``N``). A
handler that keeps state derived from events should reload it from the store then.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from ..failures import FailureStreak
from ..shutdown import cancel_and_wait, wait_event
from .types import GAP, Event

if TYPE_CHECKING:
    from ..store.base import Store

__all__ = ["EventBus", "Handler", "Subscription"]

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None] | None]
_READ_BATCH = 1000


class Subscription:
    """One subscriber: a filter, a queue and a delivery task."""

    def __init__(
        self,
        bus: EventBus,
        handler: Handler,
        types: Collection[str],
        job_ids: Collection[int],
        after_seq: int | None,
        where: Callable[[Event], bool] | None = None,
    ) -> None:
        self.bus = bus
        self.where = where
        self.handler = handler
        self.types = frozenset(types)
        self.job_ids = frozenset(job_ids)
        self.after_seq = after_seq
        #: the last seq delivered to the handler
        self.last_seq = after_seq if after_seq is not None else bus.last_seq
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._is_async = inspect.iscoroutinefunction(handler)

    def matches(self, e: Event) -> bool:
        if self.types and e.type not in self.types:
            return False
        if self.job_ids and e.job_id not in self.job_ids and e.root_id not in self.job_ids:
            return False
        return self.where is None or self.where(e)

    def push(self, e: Event) -> None:
        self._queue.append(e)
        self._ready.set()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="quaero-subscriber")

    async def close(self) -> None:
        self.bus._subs.discard(self)
        if self._task is not None:
            await cancel_and_wait(self._task, what="event subscriber")

    async def _deliver(self, e: Event) -> None:
        try:
            if self._is_async:
                await self.handler(e)  # type: ignore[misc]
            else:
                self.handler(e)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event subscriber failed on %s #%d", e.type, e.seq)

    async def _gap(self, store: Store, target: int) -> None:
        """Deliver a ``gap`` event if the log cannot continue from ``last_seq``."""
        first, last = await store.event_bounds()
        after = self.last_seq
        if after > max(last, target):
            reason, missing_from, missing_to, resume = "unknown_seq", None, None, target
        elif after < first - 1:
            reason, missing_from, missing_to, resume = "expired", after + 1, first - 1, first - 1
        else:
            return
        payload = {
            "reason": reason,
            "after_seq": after,
            "missing_from": missing_from,
            "missing_to": missing_to,
            "first_seq": first,
            "last_seq": last,
        }
        log.warning("replay after seq %d cannot be complete (%s)", after, reason)
        await self._deliver(Event(resume, GAP, None, None, payload, time.time()))
        self.last_seq = resume

    async def _catch_up(self) -> None:
        store = self.bus.store
        if store is None or self.after_seq is None:
            return
        await self._gap(store, self.bus.last_seq)
        while True:
            target = self.bus.last_seq
            if self.last_seq >= target:
                return
            events = await store.read_events(
                self.last_seq, _READ_BATCH, self.types, self.job_ids, until_seq=target
            )
            for e in events:
                if self.where is None or self.where(e):
                    await self._deliver(e)
                self.last_seq = e.seq
            if len(events) < _READ_BATCH:
                self.last_seq = max(self.last_seq, target)
            else:  # a long replay: the log may have been pruned under it
                await self._gap(store, target)

    async def _run(self) -> None:
        await self._catch_up()
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            e = self._queue.popleft()
            if e.seq <= self.last_seq:
                continue
            await self._deliver(e)
            self.last_seq = e.seq


class EventBus:
    """Subscribe to events of this store; see the module docstring for the guarantees."""

    def __init__(self, poll_interval: float = 0.25) -> None:
        self.store: Store | None = None
        self.poll_interval = poll_interval
        #: the last seq dispatched to subscribers
        self.last_seq = 0
        self._subs: set[Subscription] = set()
        self._inbox: deque[list[Event]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: events delivered by the bus (for metrics)
        self.dispatched = 0
        #: reads of the log on wake-ups from other processes (and without the local fast
        #: path, PostgreSQL, on every commit) are at least this far apart (seconds), so a
        #: burst of commits costs one read, not one per commit and per process
        self.min_read_gap = 0.02
        #: the feeder owes a read of the log (a wake-up or the poll interval passed)
        self._poll_due = False
        self._local_fast_path = True

    async def start(self, store: Store, local_fast_path: bool = True) -> None:
        """Attach to a store and start at the current end of its log."""
        self.store = store
        self._local_fast_path = local_fast_path
        if local_fast_path:
            # SQLite: local commits come by the fast path, so reads of the log only
            # serve other processes' commits; shorter than PostgreSQL's, for latency
            self.min_read_gap = min(self.min_read_gap, 0.005)
        self.last_seq = (await store.event_bounds())[1]
        self._task = asyncio.get_running_loop().create_task(
            self._feeder(), name="quaero-event-feed"
        )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, what="event bus poller")
            self._task = None
        for sub in list(self._subs):
            await sub.close()

    def subscribe(
        self,
        handler: Handler,
        types: Collection[str] = (),
        job_ids: Collection[int] = (),
        after_seq: int | None = None,
        where: Callable[[Event], bool] | None = None,
    ) -> Subscription:
        """Call ``handler`` for every matching event (all types when ``types`` is empty).

        ``job_ids`` matches an event's job or root; ``where`` is a cheap predicate run at
        publish time, so events a subscriber does not want never reach its queue. With
        ``after_seq``, first replays the committed events after it from the log.
        """
        sub = Subscription(self, handler, types, job_ids, after_seq, where)
        self._subs.add(sub)
        sub.start()
        return sub

    def feed(self, events: list[Event]) -> None:
        """Called with the events of a local commit (never blocks)."""
        if self._local_fast_path:
            self._inbox.append(events)
        else:
            self._poll_due = True
        self._wake.set()

    def poll(self) -> None:
        """Ask the feeder to look for events committed by other processes now (the
        store's ``on_wake``: PostgreSQL ``NOTIFY``, SQLite wake-up sockets)."""
        self._poll_due = True
        self._wake.set()

    def publish(self, events: list[Event]) -> None:
        """Dispatch committed events to subscribers (in order; called by the feeder)."""
        for e in events:
            if e.seq <= self.last_seq:
                continue
            self.last_seq = e.seq
            self.dispatched += 1
            for sub in self._subs:
                if sub.matches(e):
                    sub.push(e)

    async def _read_until(self, until: int | None) -> None:
        assert self.store is not None
        while True:
            events = await self.store.read_events(self.last_seq, _READ_BATCH, until_seq=until)
            if not events:
                return
            self.publish(events)
            if len(events) < _READ_BATCH:
                return

    async def _feeder(self) -> None:
        loop = asyncio.get_running_loop()
        last_read = 0.0
        failures = FailureStreak(log, "event feed")
        while True:
            if not self._inbox and not self._poll_due:
                # no await between the checks and the clear: a wake-up is never lost
                self._wake.clear()
                if not await wait_event(self._wake, self.poll_interval):
                    self._poll_due = True  # the fallback: look at the log anyway
            try:
                if self._inbox:
                    batch = self._inbox.popleft()
                    if batch[0].seq > self.last_seq + 1:
                        await self._read_until(batch[0].seq - 1)
                    self.publish(batch)
                    continue
                # another process committed (or the poll is due): a burst of commits
                # elsewhere costs one read per ``min_read_gap``, not one per commit
                gap = last_read + self.min_read_gap - loop.time()
                if gap > 0:
                    await asyncio.sleep(gap)
                    if self._inbox:
                        continue  # a local batch came first; it reads any gap itself
                self._poll_due = False
                last_read = loop.time()
                await self._read_until(None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures.failed(exc)
                await asyncio.sleep(self.poll_interval)
            else:
                failures.ok()

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event:
        """Wait for the next event that satisfies ``predicate``."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

        def check(e: Event) -> None:
            if not fut.done() and predicate(e):
                fut.set_result(e)

        sub = self.subscribe(check)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see wait_event
                return await fut
        finally:
            await sub.close()
