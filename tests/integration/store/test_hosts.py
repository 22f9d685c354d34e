"""Crawl politeness through the store: per-host turns shared by every store instance."""

from __future__ import annotations

import asyncio
import itertools
import time

from quaero.store.base import Store, open_store


async def _starts(store: Store, host: str, interval: float, n: int) -> list[float]:
    """Reserve ``n`` slots at once; the absolute start time of each (local clock)."""
    waits = await asyncio.gather(*(store.reserve_host_slot(host, interval) for _ in range(n)))
    now = time.time()
    return sorted(now + w for w in waits)


async def test_slots_are_spaced_by_the_interval_across_store_instances(
    store: Store, store_url: str
) -> None:
    other = open_store(store_url)  # another process, as far as the database can tell
    await other.open()
    try:
        a, b = await asyncio.gather(
            _starts(store, "example.org", 0.5, 5), _starts(other, "example.org", 0.5, 5)
        )
    finally:
        await other.close()
    gaps = [y - x for x, y in itertools.pairwise(sorted(a + b))]
    assert len(gaps) == 9 and all(0.45 < g < 0.55 for g in gaps), gaps


async def test_one_holder_at_a_time_and_the_next_one_interval_after_its_end(
    store: Store, store_url: str
) -> None:
    other = open_store(store_url)
    await other.open()
    try:
        assert await store.acquire_host("h.example", "a", 60, 0.5) == 0
        # held by "a": another holder is told to ask again, at most `poll` later
        assert 0 < await other.acquire_host("h.example", "b", 60, 0.5) <= 0.5
        assert await store.acquire_host("h.example", "a", 60, 0.5) == 0  # "a" holds it
        await other.release_host("h.example", "b", 3.0)  # not b's: nothing happens
        assert await other.acquire_host("h.example", "b", 60, 0.5) > 0
        await store.release_host("h.example", "a", 3.0)
        wait = await other.acquire_host("h.example", "b", 60, 0.5)
        assert 2.5 < wait <= 3.0  # free, but only one interval after the release
        # the next slot in line is not before that either
        assert 2.5 < await other.reserve_host_slot("h.example", 1.0) <= 3.0
    finally:
        await other.close()


async def test_an_expired_hold_frees_the_host(store: Store) -> None:
    assert await store.acquire_host("crash.example", "dead", 0.2, 1.0) == 0
    assert await store.acquire_host("crash.example", "next", 60, 1.0) > 0
    deadline = time.monotonic() + 10
    while (wait := await store.acquire_host("crash.example", "next", 60, 1.0)) > 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(wait)


async def test_a_free_host_starts_now_and_hosts_are_independent(store: Store) -> None:
    assert await store.reserve_host_slot("a.example", 10.0) <= 0.05
    assert await store.acquire_host("a.example", "t", 60, 1.0) == 0
    assert await store.reserve_host_slot("b.example", 10.0) <= 0.05
    assert await store.acquire_host("b.example", "t", 60, 1.0) == 0
    assert 9.0 < await store.reserve_host_slot("a.example", 10.0) <= 10.0


async def test_defer_holds_later_turns_back(store: Store) -> None:
    await store.defer_host("slow.example", 5.0)
    assert 4.0 < await store.reserve_host_slot("slow.example", 0.1) <= 5.0
    assert 4.0 < await store.acquire_host("slow.example", "t", 60, 0.1) <= 5.0
    await store.defer_host("slow.example", 1.0)  # never pulls a later start earlier
    assert 4.0 < await store.acquire_host("slow.example", "t", 60, 0.1) <= 5.0
    await store.defer_host("slow.example", 0)  # nothing


async def test_a_process_closing_right_after_a_request_gives_its_turn_back(
    store: Store, store_url: str
) -> None:
    from quaero.crawler.fetch import FetchConfig, Fetcher

    leaving = open_store(store_url)  # a crawl process about to exit
    await leaving.open()
    try:
        fetcher = Fetcher(FetchConfig())
        fetcher.throttle.share(leaving, hold=60.0)
        fetcher.throttle.set_delay("example.org", 0.01)
        await fetcher.throttle.wait("example.org")  # holds the turn on the host
        fetcher.throttle.done("example.org")  # its request is over
        await fetcher.close()
    finally:
        await leaving.close()
    # another process: the turn is free (not held until the 60 s hold runs out)
    assert await store.acquire_host("example.org", "another", 60.0, 5.0) < 1.0


async def test_renew_extends_only_its_holders_turn_and_never_shortens_it(store: Store) -> None:
    assert await store.acquire_host("r.example", "a", 0.5, 60.0) == 0
    assert await store.renew_host("r.example", "a", 30.0) is True
    assert await store.renew_host("r.example", "b", 30.0) is False  # not b's turn
    assert await store.renew_host("nobody.example", "a", 30.0) is False
    # held for about 30 s now: another holder is told to wait that long (poll is 60)
    assert 25.0 < await store.acquire_host("r.example", "b", 60, 60.0) <= 30.0
    assert await store.renew_host("r.example", "a", 0.1) is True  # never shortens
    assert 25.0 < await store.acquire_host("r.example", "b", 60, 60.0) <= 30.0
    await store.release_host("r.example", "a", 0.0)
    assert await store.renew_host("r.example", "a", 30.0) is False  # released


async def test_a_turn_is_leased_for_seconds_and_renewed_while_its_request_runs(
    store: Store, store_url: str
) -> None:
    """A throttle holds a host for ``turn_lease`` seconds at a time, renewed while its
    request is in flight: a process killed mid-request frees the host within that lease,
    not after the whole ``hold`` (a crawl killed and resumed waited a minute for it)."""
    from quaero.crawler.politeness import TURN_LEASE, HostThrottle

    assert TURN_LEASE <= 10.0
    other = open_store(store_url)  # another process
    await other.open()
    a, b = HostThrottle(0.01), HostThrottle(0.01)
    a.share(store, hold=60.0)
    b.share(other, hold=60.0)
    a.turn_lease = b.turn_lease = 0.6
    try:
        await a.wait("lease.example")  # a's request is in flight
        # the turn is leased for turn_lease seconds, not the whole hold
        assert 0 < await other.acquire_host("lease.example", "probe", 60, 60.0) <= 0.6
        waiting = asyncio.create_task(b.wait("lease.example"))
        done, _ = await asyncio.wait({waiting}, timeout=2.0)  # > 3 leases: a renews it
        assert not done
        a.done("lease.example")  # a's request is over: b goes next
        await asyncio.wait_for(waiting, 10)
        b.done("lease.example")
    finally:
        await a.close()
        await b.close()
        await other.close()
