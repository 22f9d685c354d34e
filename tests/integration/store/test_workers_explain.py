"""Contract: the worker registry and the explain probes (``child_facts``), both backends."""

from __future__ import annotations

import time

import pytest

from quaero.jobs.explain import ChildFacts
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.jobs.worker_registry import FORGET_AFTER, WorkerInfo
from quaero.store.base import Store

from .helpers import OWNER, running_root


def worker(wid: str, now: float, ttl: float = 30.0, **kw: object) -> WorkerInfo:
    info = WorkerInfo(
        id=wid,
        host="h1",
        pid=42,
        started_at=now - 5,
        concurrency=8,
        job_types=["noop", "fanout"],
        heartbeat_at=now,
        expires_at=now + ttl,
    )
    for k, v in kw.items():
        setattr(info, k, v)
    return info


async def test_register_update_list_unregister(store: Store) -> None:
    now = time.time()
    assert await store.list_workers() == []
    await store.register_worker(worker("w1", now))
    await store.register_worker(worker("w2", now + 1, job_types=["crawl"]))
    await store.register_worker(worker("w1", now + 2, running=3, processed=7))
    rows = await store.list_workers()
    assert [w.id for w in rows] == ["w1", "w2"]
    w1 = rows[0]
    assert (w1.host, w1.pid, w1.concurrency, w1.running, w1.processed) == ("h1", 42, 8, 3, 7)
    assert w1.job_types == ["fanout", "noop"]
    assert w1.heartbeat_at == pytest.approx(now + 2)
    assert w1.started_at == pytest.approx(now - 5)  # the first registration's
    assert w1.live(now) and not w1.live(now + 40)
    await store.unregister_worker("w1")
    await store.unregister_worker("never-registered")
    assert [w.id for w in await store.list_workers()] == ["w2"]


async def test_dead_workers_expire_then_are_forgotten(store: Store) -> None:
    now = time.time()
    # stopped heartbeating a minute ago: still listed, not live
    await store.register_worker(worker("dead", now - 60, ttl=10))
    # expired longer than FORGET_AFTER ago: deleted by the next registry write
    await store.register_worker(worker("gone", now - FORGET_AFTER - 100, ttl=10))
    await store.register_worker(worker("alive", now))
    rows = {w.id: w for w in await store.list_workers()}
    assert set(rows) == {"dead", "alive"}
    assert not rows["dead"].live(now) and rows["alive"].live(now)


async def test_child_facts_of_a_leaf_is_empty(store: Store) -> None:
    parent = await running_root(store)
    assert await store.child_facts(parent.id, time.time()) == ChildFacts()


async def test_child_facts_pending_by_type_due_and_retries(store: Store) -> None:
    parent = await running_root(store)
    specs = [NewJob("noop", parent_id=parent.id) for _ in range(5)]
    specs += [NewJob("noop", parent_id=parent.id, delay=100) for _ in range(3)]
    specs += [NewJob("zeta", parent_id=parent.id, delay=50) for _ in range(2)]
    specs += [NewJob("alpha", parent_id=parent.id) for _ in range(4)]
    await store.create_jobs(specs)
    # two noop children ran once and wait for their retry
    claimed = await store.claim_jobs("w", 2, 60, ["noop"])
    retry_at = time.time() + 30
    results = await store.apply_changes(
        [
            StatusChange(j.id, JobStatus.PENDING, error="boom", available_at=retry_at)
            for j in claimed
        ]
    )
    assert all(r.ok for r in results)
    now = time.time()
    facts = await store.child_facts(parent.id, now)
    assert facts.pending_types_complete
    assert facts.running == []
    by_type = {t.job_type: t for t in facts.pending}
    assert list(by_type) == ["alpha", "noop", "zeta"]  # in type order
    alpha, noop, zeta = by_type["alpha"], by_type["noop"], by_type["zeta"]
    assert (alpha.count, alpha.not_due, alpha.retries, alpha.exact) == (4, 0, 0, True)
    assert alpha.next_available_at is None and alpha.next_retry_at is None
    assert (noop.count, noop.not_due, noop.retries) == (8, 5, 2)
    assert noop.next_available_at == pytest.approx(retry_at)
    assert noop.next_retry_at == pytest.approx(retry_at)
    assert (zeta.count, zeta.not_due, zeta.retries) == (2, 2, 0)
    assert zeta.next_available_at is not None and zeta.next_available_at > now + 40


async def test_child_facts_running_children(store: Store) -> None:
    parent = await running_root(store)
    await store.create_jobs([NewJob("noop", parent_id=parent.id) for _ in range(4)])
    live = await store.claim_jobs("live-worker", 2, 60, ["noop"])
    dead = await store.claim_jobs("dead-worker", 2, 0.01, ["noop"])
    time.sleep(0.05)  # the dead worker's leases run out (no reaper runs here)
    facts = await store.child_facts(parent.id, time.time())
    assert facts.pending == []
    rows = {r.id: r for r in facts.running}
    assert sorted(rows) == sorted(j.id for j in live + dead)
    for j in dead:
        r = rows[j.id]
        assert r.lease_owner == "dead-worker" and r.lease_expires_at is not None
        assert r.lease_expires_at < time.time() and not r.waiting
    for j in live:
        assert rows[j.id].lease_owner == "live-worker"
        assert rows[j.id].heartbeat_at is not None


async def test_child_facts_counts_are_capped(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from quaero.store import postgres_explain, sqlite_explain

    for module in (sqlite_explain, postgres_explain):
        monkeypatch.setattr(module, "type_cap", lambda types: 3)
    parent = await running_root(store)
    await store.create_jobs([NewJob("noop", parent_id=parent.id, delay=60) for _ in range(7)])
    [noop] = (await store.child_facts(parent.id, time.time())).pending
    assert (noop.count, noop.not_due, noop.exact) == (3, 3, False)


async def test_child_facts_only_of_that_parent(store: Store) -> None:
    a = await running_root(store)
    other = (await store.create_jobs([NewJob("fanout", name="b")]))[0]
    await store.create_jobs([NewJob("noop", parent_id=other.id) for _ in range(3)])
    await store.claim_jobs(OWNER, 1, 60, ["noop"])
    assert await store.child_facts(a.id, time.time()) == ChildFacts()
