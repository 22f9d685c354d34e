"""The WebSocket hub: ONE event-bus subscription fanned out to per-client outboxes.

Events are collected for a short window (10 ms when a throttle is configured; else just
until the current batch is in) and a throttled type's superseded events are dropped once
for everyone. For each remaining event the hub checks the server whitelist once, then each client's filter (set
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
from ..events.types import DOCUMENT_SAVED, Event
from ..jobs.models import job_to_dict
from ..store.base import JobQuery
from .metrics import WebMetrics
from .outbox import Message, Outbox, Resync

__all__ = ["ROOT_EVENTS", "Client", "Filter", "Hub", "is_top_level"]

log = logging.getLogger(__name__)

_REPLAY_BATCH = 1000
#: with throttling on, events are fanned out every this many seconds, so that a burst of
#: progress events of one job costs one push per client instead of one per event
COALESCE_WINDOW = 0.01
_SNAPSHOT_JOBS = 50


#: events a child raises about its root: a crawl page's ``document_saved`` changes the
#: crawl's document count, which the jobs page (``top_level``) shows
ROOT_EVENTS = frozenset({DOCUMENT_SAVED})


def is_top_level(e: Event) -> bool:
    """True for an event about a top-level job (what ``top_level`` clients get)."""
    return e.job_id is None or e.job_id == e.root_id or e.type in ROOT_EVENTS


@dataclass(slots=True)
class Filter:
    """What a client wants.

    - ``types``: these event types (None = every type the server allows; an empty set,
      when none of the asked types is allowed, matches nothing);
    - ``job_ids``: events about these jobs (``event.job_id``; empty = all jobs);
    - ``tree``: also every event of the trees rooted at these jobs (``event.root_id``);
    - ``top_level``: only events about top-level jobs (the jobs page; :func:`is_top_level`).
    """

    types: frozenset[str] | None = None
    job_ids: frozenset[int] = frozenset()
    tree: bool = False
    top_level: bool = False

    def matches(self, e: Event) -> bool:
        if self.types is not None and e.type not in self.types:
            return False
        if self.top_level and not is_top_level(e):
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

    def offer(self, e: Event, text: str) -> None:
        if self.parked is None:
            if e.seq > self.min_seq:
                self.outbox.push(e, text)
        elif e.seq <= self.min_seq:
            return
        elif len(self.parked) >= self.limit:
            self.parked_overflow = True
        else:
            self.parked.append((e, text))


@dataclass(slots=True)
class _Route:
    """Clients that may want one event type: O(1) lookups instead of a scan of clients.

    ``everyone`` / ``top_level``: no job filter (all jobs / top-level jobs only);
    ``by_job``: by subscribed job id; ``by_root``: clients following whole trees, by root.
    """

    everyone: list[Client] = field(default_factory=list)
    top_level: list[Client] = field(default_factory=list)
    by_job: dict[int, list[Client]] = field(default_factory=dict)
    by_root: dict[int, list[Client]] = field(default_factory=dict)


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
        #: seq of the last event the hub has received (fanned out or in the window)
        self.received = 0
        self._sub: Subscription | None = None
        #: per event type, the clients that may want it, indexed by job (rebuilt lazily)
        self._routes: dict[str, _Route] = {}
        #: throttled event types: coalesced per job over a short window before fan-out
        self._throttled = frozenset(k for k, v in settings.throttle_intervals.items() if v > 0)
        self._window = COALESCE_WINDOW if self._throttled else 0.0
        self._pending: list[Event] = []
        self._flush_handle: asyncio.Handle | None = None

    @property
    def client_count(self) -> int:
        return len(self.clients)

    async def start(self) -> None:
        self.position = self.received = self.app.bus.last_seq
        self._sub = self.app.bus.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.close()
            self._sub = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _on_event(self, e: Event) -> None:
        """Bus handler: collect; events are fanned out together in :meth:`_flush`."""
        self.metrics.on_event(e)
        self.received = e.seq
        self._pending.append(e)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            if self._window > 0:
                self._flush_handle = loop.call_later(self._window, self._flush)
            else:
                self._flush_handle = loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        events, self._pending = self._pending, []
        if self._throttled and len(events) > 1:
            events = self._coalesce(events)
        for e in events:
            self._dispatch(e)

    def _coalesce(self, events: list[Event]) -> list[Event]:
        """Keep only the newest event per (throttled type, job) of a window.

        Exactly what each client's outbox would do with them (the newest supersedes, in
        its own place), done once for all clients instead of once per client.
        """
        newest: dict[tuple[str, int], int] = {}
        for i, e in enumerate(events):
            if e.type in self._throttled and e.job_id is not None:
                newest[(e.type, e.job_id)] = i
        if len(newest) == sum(1 for e in events if e.type in self._throttled):
            return events
        return [
            e
            for i, e in enumerate(events)
            if e.job_id is None or e.type not in self._throttled or newest[(e.type, e.job_id)] == i
        ]

    def _dispatch(self, e: Event) -> None:
        self.position = e.seq
        if self.allowed and e.type not in self.allowed:
            return
        route = self._routes.get(e.type) or self._build_route(e.type)
        # the route already matched the type (and the job, for by_job / by_root): only
        # the top-level flag is left to check here
        text: str | None = None
        top = is_top_level(e)
        for c in route.everyone:
            text = text or e.to_json()
            c.offer(e, text)
        if top:
            for c in route.top_level:
                text = text or e.to_json()
                c.offer(e, text)
        if route.by_job:
            for c in route.by_job.get(e.job_id, ()):  # type: ignore[arg-type]
                if top or not c.filter.top_level:
                    text = text or e.to_json()
                    c.offer(e, text)
        if route.by_root:
            for c in route.by_root.get(e.root_id, ()):  # type: ignore[arg-type]
                if e.job_id not in c.filter.job_ids and (top or not c.filter.top_level):
                    text = text or e.to_json()
                    c.offer(e, text)

    def _build_route(self, event_type: str) -> _Route:
        route = _Route()
        for c in self.clients:
            f = c.filter
            if f.types is not None and event_type not in f.types:
                continue
            if not f.job_ids:
                (route.top_level if f.top_level else route.everyone).append(c)
                continue
            for job_id in f.job_ids:
                route.by_job.setdefault(job_id, []).append(c)
                if f.tree:
                    route.by_root.setdefault(job_id, []).append(c)
        self._routes[event_type] = route
        return route

    def _add(self, client: Client) -> None:
        self.clients.add(client)
        self._routes.clear()

    def set_filter(self, client: Client, flt: Filter) -> None:
        """Change what a connected client receives (from the next event on)."""
        client.filter = flt
        self._routes.clear()

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
        if after is None:  # live from the newest event the hub has
            client.min_seq = self.received
            self._add(client)
            self.metrics.ws_clients.set(len(self.clients))
            return
        first, last = await self.app.store.event_bounds()
        position = self.position  # no await from here to registration
        if after > max(last, position) or after < first - 1:
            reason = "expired" if after < first - 1 else "unknown_seq"
            client.min_seq = position
            client.outbox.resync(position, reason)
            self.metrics.ws_resyncs.labels(reason).inc()
            self._add(client)
        elif after >= position:
            client.min_seq = after
            self._add(client)
        else:
            client.min_seq = after
            client.parked = []
            self._add(client)
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
                    self.metrics.ws_messages.inc()
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
        self._routes.clear()
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
