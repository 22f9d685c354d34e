"""Readers never skip an event when transactions commit out of order.

The hazard: a sequence value taken by a transaction that commits late becomes visible
AFTER a larger one, so a reader that already moved past it never reads it. Our event
``seq`` is assigned during COMMIT by a deferred trigger that locks a one-row counter
until the commit is visible: the next committer waits for it, so seq order is commit
order. These tests hold a transaction open after it has queued its events and check that
(1) a transaction that starts later but commits first gets the smaller seq and is not held
up, and (2) under many concurrent writers with random commit delays, a reader polling
by seq (the bus, a worker, a web process) reads every event exactly once, with no gap. A control table filled from an ordinary sequence shows that
the same reader does skip rows there, so the test can see the hazard.
"""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from quaero import App, Settings
from quaero.events.types import Event, NewEvent
from quaero.store.postgres import PostgresStore
from quaero.store.postgres_tx import PgTx

pytestmark = pytest.mark.postgres


def event(i: int) -> NewEvent:
    return NewEvent("test_event", None, None, {"i": i})


async def test_seqs_follow_commit_order_not_start_order(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        queued = asyncio.Event()
        release = asyncio.Event()

        async def slow(tx: PgTx) -> None:
            await tx.write_events([event(1)])  # queued first, committed last
            queued.set()
            await release.wait()

        first = asyncio.create_task(store.run_in_transaction(slow))
        await asyncio.wait_for(queued.wait(), 5)
        # a later transaction is not held up by the open one, and is numbered first
        await asyncio.wait_for(store.run_in_transaction(lambda tx: tx.write_events([event(2)])), 5)
        assert [(e.seq, e.payload["i"]) for e in await store.read_events(0)] == [(1, 2)]
        release.set()
        await asyncio.wait_for(first, 5)
        got = await store.read_events(0)
        assert [(e.seq, e.payload["i"]) for e in got] == [(1, 2), (2, 1)]
    finally:
        await store.close()


async def poll_reader(store: PostgresStore, stop: asyncio.Event, seen: list[int]) -> None:
    """Reads by seq like the bus does: everything after the last seq it saw."""
    last = 0
    while True:
        done = stop.is_set()
        for e in await store.read_events(last, 500):
            seen.append(e.seq)
            last = e.seq
        if done:
            return
        await asyncio.sleep(0)


async def test_concurrent_out_of_order_commits_never_make_a_reader_skip(pg_url: str) -> None:
    writers = PostgresStore(pg_url, pool_max=16)
    reader = PostgresStore(pg_url)
    await writers.open()
    await reader.open()
    rnd = random.Random(7)
    try:

        async def write(i: int) -> None:
            delay = rnd.random() * 0.02

            async def op(tx: PgTx) -> None:
                await tx.write_events([event(i), event(i)])
                await asyncio.sleep(delay)  # commit late, while others want the next seqs

            await writers.run_in_transaction(op)

        stop = asyncio.Event()
        seen: list[int] = []
        task = asyncio.create_task(poll_reader(reader, stop, seen))
        await asyncio.gather(*(write(i) for i in range(300)))
        stop.set()
        await task
        assert seen == list(range(1, 601))
    finally:
        await writers.close()
        await reader.close()


async def test_bus_subscriber_in_another_process_sees_every_event_once(pg_url: str) -> None:
    settings = Settings()
    settings.store.url = pg_url
    settings.events.poll_interval = 0.05
    writers = PostgresStore(pg_url, pool_max=16)
    await writers.open()
    try:
        async with App(settings) as app:
            got: list[Event] = []
            app.bus.subscribe(got.append)

            async def write(i: int) -> None:
                async def op(tx: PgTx) -> None:
                    await tx.write_events([event(i)])
                    await asyncio.sleep(random.random() * 0.01)

                await writers.run_in_transaction(op)

            await asyncio.gather(*(write(i) for i in range(200)))
            async with asyncio.timeout(10):
                while len(got) < 200:
                    await asyncio.sleep(0.02)
            assert [e.seq for e in got] == list(range(1, 201))
            assert sorted(e.payload["i"] for e in got) == list(range(200))
    finally:
        await writers.close()


async def test_control_an_ordinary_sequence_does_skip(pg_url: str) -> None:
    """What the counter prevents: ids from a sequence commit out of order."""
    conn_a = await asyncpg.connect(pg_url)
    conn_b = await asyncpg.connect(pg_url)
    try:
        await conn_a.execute("CREATE TABLE naive (seq bigserial PRIMARY KEY)")
        tx = conn_a.transaction()
        await tx.start()
        await conn_a.execute("INSERT INTO naive DEFAULT VALUES")  # takes 1, commits late
        await conn_b.execute("INSERT INTO naive DEFAULT VALUES")  # takes 2, commits now
        cursor = await conn_b.fetchval("SELECT max(seq) FROM naive")  # a reader is at 2
        await tx.commit()
        after = await conn_b.fetch("SELECT seq FROM naive WHERE seq > $1", cursor)
        assert cursor == 2 and after == []  # seq 1 arrived behind the reader: skipped
    finally:
        await conn_a.close()
        await conn_b.close()
