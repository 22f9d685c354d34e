"""One WebSocket client's bounded, coalescing, throttled queue of messages.

Messages leave in strictly increasing ``seq`` order, so a client can always resume from
the ``seq`` of the last message it processed (see docs/api.md, "Resume and throttling").

Coalescing ("move to tail"): a throttled event type (``parent_job_progress`` by default)
has at most one queued message per job. A newer one *removes* the queued one and is
appended at the tail, at its own (newer) seq. The removed message is superseded: its
content (counts) is contained in the newer one, which the client has not been sent yet,
so resuming after any seq the client saw still delivers it. Nothing is reordered.

Throttling: a throttled message is not released before ``interval`` seconds after the
previous message of the same job was sent; while it waits at the head of the queue the
messages behind it wait too (at most ``interval``), which keeps the order. A message that
reports a finished job (no pending or running children) is never held back.

Bounded: when more than ``limit`` messages are queued the client fell too far behind.
The queue is cleared and the client is sent a ``snapshot`` (``reason: "resync"``) current
at the seq where it overflowed, then the events after it.

Every operation is O(1) per event.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..events.types import Event
from ..shutdown import wait_event

__all__ = ["Message", "Outbox", "Resync"]

_TERMINAL = frozenset({"completed", "failed", "cancelled"})
_PRUNE_AT = 10_000


@dataclass(slots=True)
class Message:
    seq: int
    text: str
    #: (type, job_id) for a throttled type, else None
    throttle_key: tuple[str, int] | None = None
    release_at: float = 0.0


@dataclass(slots=True)
class Resync:
    """Send a snapshot current at ``seq`` (the client fell behind or resumed too late)."""

    seq: int
    reason: str


def _finished(e: Event) -> bool:
    p = e.payload
    if p.get("status") in _TERMINAL:
        return True
    return bool(p.get("pending_children", 1) == 0 and p.get("running_children", 1) == 0)


class Outbox:
    """Producer side: :meth:`push` (sync, from the hub). Consumer side: :meth:`get`."""

    def __init__(self, limit: int, intervals: Mapping[str, float]) -> None:
        self.limit = limit
        self.intervals = {k: v for k, v in intervals.items() if v > 0}
        self._items: OrderedDict[object, Message] = OrderedDict()
        self._last_sent: dict[tuple[str, int], float] = {}
        self._control: deque[Callable[[], str]] = deque()
        self._resync: Resync | None = None
        self._changed = asyncio.Event()
        #: seq of the last event message handed out (sent) by :meth:`get`
        self.last_seq = 0
        self.overflows = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> bool:
        """Nothing queued: every event the hub has offered was sent (or filtered out)."""
        return not self._items and self._resync is None

    def push(self, e: Event, text: str, throttle: bool = True) -> None:
        items = self._items
        wake = not items  # the consumer waits for anything only when the queue is empty
        interval = self.intervals.get(e.type)
        if interval is None or e.job_id is None:
            items[e.seq] = Message(e.seq, text)
        else:
            key = (e.type, e.job_id)
            finished = _finished(e)
            if items and not finished and next(reversed(items)) == key:
                # already the tail (the common case when following one busy job):
                # superseding it in place keeps the order and its release time
                tail = items[key]
                tail.seq = e.seq
                tail.text = text
                return
            head_key = next(iter(items)) if items else None
            old = items.pop(key, None)  # superseded by this newer one
            release = 0.0
            if throttle and not finished:
                last = self._last_sent.get(key)
                if last is not None:
                    release = last + interval
            items[key] = Message(e.seq, text, key, release)
            # Otherwise the consumer waits until the head's release time. Only replacing
            # the head can make something releasable sooner; coalescing a held message
            # (the hot path: one per progress event per client) wakes no one.
            if old is not None and head_key == key:
                wake = next(iter(items.values())).release_at < old.release_at
        if len(items) > self.limit:
            self.resync(e.seq, "resync")
        elif wake:
            self._changed.set()

    def resync(self, seq: int, reason: str) -> None:
        """Drop what is queued; the consumer will send a snapshot current at ``seq``."""
        self._items.clear()
        self._resync = Resync(seq, reason)
        self.overflows += 1
        self._changed.set()

    def control(self, render: Callable[[], str]) -> None:
        """Queue a control message (pong, error); rendered when it is sent."""
        self._control.append(render)
        self._changed.set()

    def get_nowait(self) -> Message | Resync | str | None:
        if self._resync is not None:
            r, self._resync = self._resync, None
            self.last_seq = r.seq
            return r
        if self._control:
            return self._control.popleft()()
        if not self._items:
            return None
        key, msg = next(iter(self._items.items()))
        now = time.monotonic()
        if msg.release_at > now:
            return None
        del self._items[key]
        if msg.throttle_key is not None:
            self._last_sent[msg.throttle_key] = now
            if len(self._last_sent) > _PRUNE_AT:
                self._prune(now)
        self.last_seq = msg.seq
        return msg

    async def get(self) -> Message | Resync | str:
        """The next message to send, waiting for one (and for its release time)."""
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            timeout = None
            if self._items:
                head = next(iter(self._items.values()))
                timeout = max(0.0, head.release_at - time.monotonic())
            self._changed.clear()
            await wait_event(self._changed, timeout)

    def _prune(self, now: float) -> None:
        horizon = now - max(self.intervals.values(), default=0.0)
        for key in [k for k, t in self._last_sent.items() if t < horizon]:
            del self._last_sent[key]
