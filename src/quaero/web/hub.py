"""The WebSocket hub: ONE event-bus subscription fanned out to per-client outboxes.

For each event the hub checks the server whitelist once, then each client's filter (set
lookups: O(1) per client), serialises the event to JSON at most once, and pushes it to
the matching clients' bounded outboxes (:mod:`quaero.web.outbox`). A slow client only
fills its own outbox; the hub never awaits a client.

A client that resumes (``after=N``) is first served from the durable event log: live
events that arrive meanwhile are parked in a bounded buffer and queued once the replay
has reached the hub's position, so the client sees every event after ``N`` exactly once
and in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ..app import App
from ..config import WebSocketSettings
from ..events.bus import Subscription
from ..events.types import Event
from ..jobs.models import job_to_dict
from ..store.base import JobQuery
from .metrics import WebMetrics
from .outbox import Message, Outbox, Resync

__all__ = ["Client", "Filter", "Hub"]

log = logging.getLogger(__name__)

_REPLAY_BATCH = 1000
_SNAPSHOT_JOBS = 50


@dataclass(slots=True)
class Filter:
    """What a client wants.

    - ``types``: these event types (None = every type the server allows; an empty set,
      when none of the asked types is allowed, matches nothing);
    - ``job_ids``: events about these jobs (``event.job_id``; empty = all jobs);
    - ``tree``: also every event of the trees rooted at these jobs (``event.root_id``);
    - ``top_level``: only events about top-level jobs (the jobs page).
    """

    types: frozenset[str] | None = None
    job_ids: frozenset[int] = frozenset()
    tree: bool = False
    top_level: bool = False

    def matches(self, e: Event) -> bool:
        if self.types is not None and e.type not in self.types:
            return False
        if self.top_level and e.job_id is not None and e.job_id != e.root_id:
            return False
        if self.job_ids:
            if e.job_id in self.job_ids:
                return True
            return self.tree and e.root_id in self.job_ids
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_types": None if self.types is None else sorted(self.types),
            "job_ids": sorted(self.job_ids),
            "tree": self.tree,
            "top_level": self.top_level,
        }


@dataclass(eq=False)
class Client:
    """One connection: its filter, its outbox and, while it catches up, parked events."""

    filter: Filter
    outbox: Outbox
    #: events with seq <= this were delivered before (or are covered by a snapshot)
    min_seq: int = 0
    #: live events parked while the log is replayed (None once live)
    parked: list[tuple[Event, str]] | None = None
    parked_overflow: bool = False
    limit: int = 2000
    sent: int = field(default=0)

    def offer(self, e: Event, text: str) -> None:
        if e.seq <= self.min_seq:
            return
        if self.parked is None:
            self.outbox.push(e, text)
        elif len(self.parked) >= self.limit:
            self.parked_overflow = True
        else:
            self.parked.append((e, text))


class Hub:
    """Fans the event bus out to WebSocket clients; see the module docstring."""

    def __init__(self, app: App, settings: WebSocketSettings, metrics: WebMetrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.allowed: frozenset[str] = frozenset(settings.allowed_events)
        self.clients: set[Client] = set()
        #: seq of the last event the hub has fanned out
        self.position = 0
        self._sub: Subscription | None = None

    @property
    def client_count(self) -> int:
        return len(self.clients)

    async def start(self) -> None:
        self.position = self.app.bus.last_seq
        self._sub = self.app.bus.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.close()
            self._sub = None

    def _on_event(self, e: Event) -> None:
        self.position = e.seq
        self.metrics.on_event(e)
        if self.allowed and e.type not in self.allowed:
            return
        text: str | None = None
        for c in self.clients:
            if c.filter.matches(e):
                if text is None:
                    text = e.to_json()
                c.offer(e, text)

    # ------------------------------------------------------------------ clients
    def make_filter(
        self,
        types: Collection[str] = (),
        job_ids: Collection[int] = (),
        tree: bool = False,
        top_level: bool = False,
    ) -> Filter:
        wanted: frozenset[str] | None = frozenset(types) or None
        if self.allowed:
            wanted = self.allowed if wanted is None else wanted & self.allowed
        return Filter(wanted, frozenset(job_ids), tree, top_level)

    def new_client(self, flt: Filter) -> Client:
        return Client(
            flt,
            Outbox(self.settings.client_queue, self.settings.throttle_intervals),
            limit=self.settings.client_queue,
        )

    async def attach(
        self, client: Client, after: int | None, send: Callable[[str], Awaitable[None]]
    ) -> None:
        """Register the client; with ``after``, replay what it missed (or queue a snapshot).

        Returns once the client is live (its outbox then carries everything after).
        """
        if after is None:
            client.min_seq = self.position
            self.clients.add(client)
            self.metrics.ws_clients.set(len(self.clients))
            return
        first, last = await self.app.store.event_bounds()
        position = self.position  # no await from here to registration
        if after > max(last, position) or after < first - 1:
            reason = "expired" if after < first - 1 else "unknown_seq"
            client.min_seq = position
            client.outbox.resync(position, reason)
            self.metrics.ws_resyncs.labels(reason).inc()
            self.clients.add(client)
        elif after >= position:
            client.min_seq = after
            self.clients.add(client)
        else:
            client.min_seq = after
            client.parked = []
            self.clients.add(client)
            try:
                await self._replay(client, after, position, send)
            finally:
                self._go_live(client)
        self.metrics.ws_clients.set(len(self.clients))

    async def _replay(
        self, client: Client, after: int, until: int, send: Callable[[str], Awaitable[None]]
    ) -> None:
        flt = client.filter
        cursor = after
        if flt.types is not None and not flt.types:
            return  # nothing can match
        # a batch always fits in the outbox: replay itself never overflows it
        batch = max(1, min(_REPLAY_BATCH, client.outbox.limit - 1))
        while cursor < until and not client.parked_overflow:
            events = await self.app.store.read_events(
                cursor, batch, flt.types or (), flt.job_ids, until_seq=until
            )
            if not events:
                break
            for e in events:
                if (not self.allowed or e.type in self.allowed) and flt.matches(e):
                    # coalesced but not held back: catching up should be fast
                    client.outbox.push(e, e.to_json(), throttle=False)
            cursor = events[-1].seq
            while (item := client.outbox.get_nowait()) is not None:
                if isinstance(item, Message):
                    await send(item.text)
                    client.sent += 1
                elif isinstance(item, Resync):  # cannot happen (see batch); be safe
                    client.outbox.resync(item.seq, item.reason)
                    return
                else:
                    await send(item)
            if len(events) < batch:
                break
        client.min_seq = max(client.min_seq, until)

    def _go_live(self, client: Client) -> None:
        parked, client.parked = client.parked or [], None
        if client.parked_overflow:
            client.outbox.resync(self.position, "resync")
            self.metrics.ws_resyncs.labels("resync").inc()
            return
        for e, text in parked:
            client.outbox.push(e, text)

    def detach(self, client: Client) -> None:
        self.clients.discard(client)
        self.metrics.ws_clients.set(len(self.clients))

    def cursor(self, client: Client) -> int:
        """The seq a client may resume from: it has every matching event up to it."""
        if client.parked is None and client.outbox.idle:
            return max(self.position, client.min_seq)
        return client.outbox.last_seq

    async def snapshot(self, client: Client) -> dict[str, Any]:
        """Jobs the client shows: its subscribed jobs, or the newest top-level jobs."""
        store = self.app.store
        ids = sorted(client.filter.job_ids)[:_SNAPSHOT_JOBS]
        if ids:
            found = await asyncio.gather(*(store.get_job(i) for i in ids))
            jobs = [j for j in found if j is not None]
        else:
            jobs = (await store.list_jobs(JobQuery(parent_id="root", limit=_SNAPSHOT_JOBS))).items
        return {
            "jobs": [job_to_dict(j) for j in jobs],
            "stats": await store.job_stats(),
        }
