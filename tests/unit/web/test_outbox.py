"""The per-client outbox: order, coalescing, throttling, terminal bypass, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from quaero.events.types import Event
from quaero.web import outbox as outbox_mod
from quaero.web.outbox import Message, Outbox, Resync

PROGRESS = "parent_job_progress"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(outbox_mod.time, "monotonic", c)
    return c


def ev(seq: int, type_: str = "log", jid: int = 1, **payload: Any) -> Event:
    return Event(seq, type_, jid, jid, payload, 0.0)


def progress(seq: int, job_id: int = 1, pending: int = 5, running: int = 1) -> Event:
    return ev(
        seq,
        PROGRESS,
        job_id,
        job_id=job_id,
        status="running",
        pending_children=pending,
        running_children=running,
    )


def drain(box: Outbox) -> list[Any]:
    out = []
    while (item := box.get_nowait()) is not None:
        out.append(item.seq if isinstance(item, Message) else item)
    return out


def push(box: Outbox, e: Event) -> None:
    box.push(e, e.to_json())


async def test_fifo_in_seq_order(clock: Clock) -> None:
    box = Outbox(100, {})
    for s in (1, 2, 3):
        push(box, ev(s))
    assert drain(box) == [1, 2, 3]
    assert box.last_seq == 3 and box.idle


async def test_coalescing_moves_the_newest_to_the_tail(clock: Clock) -> None:
    box = Outbox(100, {PROGRESS: 0.5})
    push(box, progress(1))
    push(box, ev(2))
    push(box, progress(3))
    push(box, progress(4, job_id=2))
    # 1 is superseded by 3, which goes after 2: the stream stays in seq order
    assert drain(box) == [2, 3, 4]


async def test_throttle_holds_and_keeps_the_latest(clock: Clock) -> None:
    box = Outbox(100, {PROGRESS: 0.5})
    push(box, progress(1))
    assert drain(box) == [1]  # the first goes at once
    push(box, progress(2))
    push(box, ev(3))
    assert drain(box) == []  # 2 waits for the interval; 3 waits behind it (order)
    push(box, progress(4))  # supersedes 2: 3 is free to go, 4 waits
    assert drain(box) == [3]
    clock.now += 0.49
    assert drain(box) == []
    clock.now += 0.02
    assert drain(box) == [4]
    assert box.get_nowait() is None


async def test_finished_job_is_never_held(clock: Clock) -> None:
    box = Outbox(100, {PROGRESS: 30})
    push(box, progress(1))
    assert drain(box) == [1]
    push(box, progress(2))
    assert drain(box) == []
    push(box, progress(3, pending=0, running=0))
    assert drain(box) == [3]


async def test_overflow_asks_for_a_resync(clock: Clock) -> None:
    box = Outbox(10, {})
    for s in range(1, 12):
        push(box, ev(s))
    assert len(box) == 0 and box.overflows == 1
    push(box, ev(12))
    items = drain(box)
    assert isinstance(items[0], Resync) and items[0].seq == 11 and items[0].reason == "resync"
    assert items[1:] == [12]


async def test_control_messages_come_first_but_after_a_resync(clock: Clock) -> None:
    box = Outbox(100, {})
    push(box, ev(1))
    box.control(lambda: "pong")
    assert drain(box) == ["pong", 1]
    box.resync(5, "expired")
    box.control(lambda: "ready")
    items = drain(box)
    assert isinstance(items[0], Resync) and items[1:] == ["ready"]


async def test_get_waits_for_the_release_time(clock: Clock) -> None:
    box = Outbox(100, {PROGRESS: 0.01})
    push(box, progress(1))
    first = await box.get()
    assert isinstance(first, Message) and first.seq == 1
    push(box, progress(2))
    clock.now += 1  # the wait computes its timeout from the (patched) clock
    second = await box.get()
    assert isinstance(second, Message) and second.seq == 2
