"""Refuse jobs nobody can run (at creation, creating nothing), and a replay that says when
it cannot be complete (the bus's ``gap`` event), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from quaero import App, Event, InvalidJobSpec, JobContext, JobStatus, NewJob
from quaero.store.base import JobQuery

from .conftest import make_settings


async def job_count(app: App) -> int:
    return (await app.store.list_jobs(JobQuery(limit=1))).total


BAD_FANOUTS: list[tuple[dict[str, Any], str]] = [
    ({"children": 2, "child_type": "doesnotexist"}, "child_type: unknown job type 'doesnotexist'"),
    ({"children": 2, "child_type": 7}, "child_type must be a job type name"),
    ({"children": 2, "child_config": {"sleep_ms": -1}}, "child_config: sleep_ms must be between"),
    ({"children": 2, "child_config": {"bogus": 1}}, "child_config: unknown noop option"),
    (
        {"children": 2, "child_type": "fanout", "child_config": {"child_type": "nope"}},
        "child_config: child_type: unknown job type 'nope'",
    ),
    ({"children": 2, "child_max_attempts": 0}, "child_max_attempts must be an integer"),
    ({"children": 2, "child_max_attempts": "3"}, "child_max_attempts must be an integer"),
    ({"children": 2, "child_max_attempts": True}, "child_max_attempts must be an integer"),
]


@pytest.mark.parametrize(("config", "message"), BAD_FANOUTS)
async def test_bad_fanout_children_are_refused_at_submit(
    app: App, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidJobSpec, match=message.replace("(", r"\(")):
        await app.submit("fanout", config)
    assert await job_count(app) == 0


async def test_unknown_type_is_refused_listing_the_known_types(app: App) -> None:
    with pytest.raises(InvalidJobSpec, match=r"unknown job type 'nope' \(registered: fanout, noop"):
        await app.submit("nope")
    with pytest.raises(InvalidJobSpec, match="unknown job type 'nope'"):
        await app.manager.create_jobs([NewJob("noop"), NewJob("nope")])
    assert await job_count(app) == 0


async def test_good_fanout_child_config_is_accepted(app: App) -> None:
    job = await app.submit(
        "fanout", {"children": 3, "child_config": {"sleep_ms": 1}, "child_max_attempts": 2}
    )
    w = app.worker()
    await w.start()
    try:
        done = await app.wait(job.id, timeout=30)
    finally:
        await w.stop()
    assert done.status is JobStatus.COMPLETED and done.children.completed == 3
    child = (await app.store.list_jobs(JobQuery(parent_id=job.id, limit=1))).items[0]
    assert child.max_attempts == 2


async def test_spawning_a_child_of_an_unknown_type_creates_nothing(app: App) -> None:
    seen: list[str] = []

    @app.job("spawner", max_attempts=1)
    async def spawner(ctx: JobContext) -> None:
        try:
            await ctx.spawn([NewJob("noop"), NewJob("ghost"), NewJob("noop")])
        except InvalidJobSpec as exc:
            seen.append(str(exc))
            raise

    w = app.worker()
    await w.start()
    try:
        job = await app.wait((await app.submit("spawner")).id, timeout=30)
    finally:
        await w.stop()
    assert seen and "unknown job type 'ghost'" in seen[0]
    assert job.status is JobStatus.FAILED and job.children.total == 0
    assert "unknown job type 'ghost'" in (job.error or "")
    assert await job_count(app) == 1  # the spawner only


async def test_external_and_unregistered_types_are_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.jobs.external_types = ["remote"]
    async with App(settings) as app:
        job = await app.submit("remote", {"anything": 1})  # its config is checked elsewhere
        assert job.job_type == "remote" and job.config == {"anything": 1}
        fan = await app.submit("fanout", {"children": 1, "child_type": "remote"})
        assert fan.config["child_type"] == "remote"
        with pytest.raises(InvalidJobSpec, match=r"external: remote\)"):
            await app.submit("other")
    settings = make_settings(tmp_path / "b")
    settings.jobs.allow_unregistered_types = True
    async with App(settings) as app:
        assert (await app.submit("anything")).job_type == "anything"
        with pytest.raises(InvalidJobSpec, match="config of a 'anything' job must be"):
            await app.manager.create_job("anything", [])  # type: ignore[arg-type]


# ---------------------------------------------------------------- replay
async def collect(app: App, after_seq: int, n: int, **kw: Any) -> list[Event]:
    got: list[Event] = []
    sub = app.bus.subscribe(got.append, after_seq=after_seq, **kw)
    try:
        async with asyncio.timeout(10):
            while len(got) < n:
                await asyncio.sleep(0.01)
    finally:
        await sub.close()
    return got


async def test_replay_after_pruning_starts_with_a_gap_event(app: App) -> None:
    for _ in range(8):
        await app.submit("noop")  # one job_created event each
    first, last = await app.store.event_bounds()
    assert (first, last) == (1, 8)
    await app.store.prune_events(time.time() + 60)  # keeps only the newest event
    assert await app.store.event_bounds() == (last, last)
    # filtered on a type the marker is not: it is delivered anyway
    got = await collect(app, 1, 2, types=("job_created",))
    gap = got[0]
    assert gap.type == "gap" and gap.seq == last - 1
    assert gap.payload == {
        "reason": "expired",
        "after_seq": 1,
        "missing_from": 2,
        "missing_to": last - 1,
        "first_seq": last,
        "last_seq": last,
    }
    assert got[1].seq == last and got[1].type == "job_created"


async def test_replay_from_the_kept_range_has_no_gap_event(app: App) -> None:
    for _ in range(3):
        await app.submit("noop")
    _, last = await app.store.event_bounds()
    await app.store.prune_events(time.time() + 60)
    got = await collect(app, last - 1, 1)  # just the kept event: nothing is missing
    assert [e.seq for e in got] == [last] and got[0].type != "gap"


async def test_replay_beyond_the_log_says_unknown_seq_then_goes_live(app: App) -> None:
    await app.submit("noop")
    _, last = await app.store.event_bounds()
    async with asyncio.timeout(10):  # the bus has dispatched it: the marker's position
        while app.bus.last_seq < last:
            await asyncio.sleep(0.01)
    got: list[Event] = []
    sub = app.bus.subscribe(got.append, after_seq=last + 1000)
    try:
        async with asyncio.timeout(10):
            while not got:
                await asyncio.sleep(0.01)
            job = await app.submit("noop")  # a new event after the marker is delivered
            while len(got) < 2:
                await asyncio.sleep(0.01)
    finally:
        await sub.close()
    assert got[0].type == "gap" and got[0].payload["reason"] == "unknown_seq"
    assert got[0].payload["after_seq"] == last + 1000 and got[0].seq == last
    assert got[0].payload["missing_from"] is None
    assert got[1].job_id == job.id and got[1].seq == last + 1
