"""The scheduler on a real SQLite store, driven by an injected clock: one run per fire
time, no overlap while a run is active, exactly one catch-up run after downtime, and one
run per fire time however many processes schedule."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from quaero.app import App
from quaero.config import Settings
from quaero.definitions import Catalog, Scheduler
from quaero.jobs.models import Job, JobStatus
from quaero.store.base import JobQuery

WRITTEN = "2024-01-01 00:00"  # the definition files' modification time


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def define(directory: Path, name: str, text: str, written: str = WRITTEN) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    os.utime(path, (ts(written), ts(written)))


DAILY = 'job_type = "noop"\nschedule = "0 3 * * *"\n'


class Clock:
    def __init__(self, start: str) -> None:
        self.now = ts(start)

    def set(self, text: str) -> float:
        self.now = ts(text)
        return self.now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def process(db: str, jobs_dir: Path, clock: Clock) -> AsyncIterator[Scheduler]:
    """One quaero process: an open App, its catalog and a scheduler (not started)."""
    settings = Settings()
    settings.store.url = db
    settings.jobs.definitions_dir = str(jobs_dir)
    async with App(settings) as app:
        catalog = Catalog(app, log_errors=False)
        catalog.reload()
        yield Scheduler(catalog, clock=clock)


async def finish(s: Scheduler, job: Job) -> None:
    manager = s.catalog.app.manager
    await manager.update_job_status(job.id, JobStatus.RUNNING)
    await manager.update_job_status(job.id, JobStatus.COMPLETED)


async def all_runs(s: Scheduler) -> list[Job]:
    page = await s.catalog.app.store.list_jobs(JobQuery(parent_id="root", descending=False))
    return page.items


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


async def test_one_run_per_fire_time(sqlite_url: str, jobs_dir: Path) -> None:
    define(jobs_dir, "daily", DAILY)
    clock = Clock("2024-01-01 02:59")
    async with process(sqlite_url, jobs_dir, clock) as s:
        assert await s.tick() == []
        (job,) = await s.tick(clock.set("2024-01-01 03:00"))
        assert job.metadata == {
            "definition": "daily",
            "trigger": "schedule",
            "scheduled_for": "2024-01-01T03:00:00Z",
        }
        assert job.dedupe_key == f"schedule:daily:{round(ts('2024-01-01 03:00'))}"
        assert job.name == "daily" and job.parent_id is None
        await finish(s, job)
        for t in ("2024-01-01 03:00:30", "2024-01-01 12:00", "2024-01-02 02:59:59"):
            assert await s.tick(clock.set(t)) == []
        (second,) = await s.tick(clock.set("2024-01-02 03:00:01"))
        assert second.metadata["scheduled_for"] == "2024-01-02T03:00:00Z"
        assert await s.tick() == []
        assert [j.id for j in await all_runs(s)] == [job.id, second.id]


async def test_no_overlap_while_a_run_is_active(sqlite_url: str, jobs_dir: Path) -> None:
    define(jobs_dir, "hourly", 'job_type = "noop"\nschedule = "0 * * * *"\n')
    clock = Clock("2024-01-01 09:30")
    async with process(sqlite_url, jobs_dir, clock) as s:
        # a run started by hand is a run too: the 10:00 start waits for it
        manual = await s.catalog.execute("hourly")
        assert await s.tick(clock.set("2024-01-01 10:00")) == []
        await s.catalog.app.manager.update_job_status(manual.id, JobStatus.RUNNING)
        assert await s.tick(clock.set("2024-01-01 10:20")) == []
        await s.catalog.app.manager.update_job_status(manual.id, JobStatus.COMPLETED)
        # it ended: the waiting 10:00 start runs now, once
        (late,) = await s.tick(clock.set("2024-01-01 10:21"))
        assert late.metadata["scheduled_for"] == "2024-01-01T10:00:00Z"
        # it is still running at 11:00 and 12:00: nothing more starts
        for t in ("2024-01-01 11:00", "2024-01-01 11:30", "2024-01-01 12:00:05"):
            assert await s.tick(clock.set(t)) == []
        await finish(s, late)
        # the waiting fire times came down to the latest one, 12:00
        (next_run,) = await s.tick(clock.set("2024-01-01 12:10"))
        assert next_run.metadata["scheduled_for"] == "2024-01-01T12:00:00Z"
        assert len(await all_runs(s)) == 3


async def test_exactly_one_catch_up_run_after_downtime(sqlite_url: str, jobs_dir: Path) -> None:
    define(jobs_dir, "daily", DAILY)
    clock = Clock("2024-01-01 03:00:02")
    async with process(sqlite_url, jobs_dir, clock) as s:
        (first,) = await s.tick()
        await finish(s, first)
    # down from Jan 1 to Jan 4 10:00 (three fire times missed); a new process starts
    # with nothing in memory and finds the last scheduled run in the store
    async with process(sqlite_url, jobs_dir, clock) as s:
        (caught_up,) = await s.tick(clock.set("2024-01-04 10:00"))
        assert caught_up.metadata["scheduled_for"] == "2024-01-04T03:00:00Z"
        await finish(s, caught_up)
        assert await s.tick(clock.set("2024-01-04 10:01")) == []
    async with process(sqlite_url, jobs_dir, clock) as s:  # restarting again changes nothing
        assert await s.tick(clock.set("2024-01-04 23:00")) == []
        (regular,) = await s.tick(clock.set("2024-01-05 03:00:00.5"))
        assert regular.metadata["scheduled_for"] == "2024-01-05T03:00:00Z"
        assert len(await all_runs(s)) == 3


async def test_new_definition_waits_for_its_first_fire_time(
    sqlite_url: str, jobs_dir: Path
) -> None:
    define(jobs_dir, "fresh", DAILY, written="2024-01-04 09:00")
    clock = Clock("2024-01-04 09:00:01")
    async with process(sqlite_url, jobs_dir, clock) as s:
        assert await s.tick() == []  # 03:00 today was before it existed
        assert len(await s.tick(clock.set("2024-01-05 03:00"))) == 1


async def test_disabled_and_unscheduled_definitions_never_fire(
    sqlite_url: str, jobs_dir: Path
) -> None:
    define(jobs_dir, "off", DAILY + "enabled = false\n")
    define(jobs_dir, "manual", 'job_type = "noop"\n')
    clock = Clock("2024-01-02 04:00")
    async with process(sqlite_url, jobs_dir, clock) as s:
        assert await s.tick() == []
        # switched on by hand (a rewrite: its schedule counts from now on)
        define(jobs_dir, "off", DAILY + "enabled = true\n", written="2024-01-02 04:01")
        assert await s.tick(clock.set("2024-01-02 04:02")) == []  # the file change is seen
        assert [d.id for d in s.catalog.definitions if d.scheduled] == ["off"]
        (job,) = await s.tick(clock.set("2024-01-03 03:00"))
        assert job.metadata["definition"] == "off"


async def test_two_processes_start_each_fire_time_once(sqlite_url: str, jobs_dir: Path) -> None:
    define(jobs_dir, "daily", DAILY)
    define(jobs_dir, "other", 'job_type = "noop"\nschedule = "0 3 * * *"\n')
    clock = Clock("2024-01-01 03:00:01")
    async with (
        process(sqlite_url, jobs_dir, clock) as a,
        process(sqlite_url, jobs_dir, clock) as b,
    ):
        # both see the 03:00 start due at the same moment
        started = await asyncio.gather(a.tick(), b.tick(), a.tick(), b.tick())
        assert sorted(j.metadata["definition"] for jobs in started for j in jobs) == [
            "daily",
            "other",
        ]
        # even when nothing else stops them (no active-run check): the dedupe key does
        d = a.catalog.get("daily")
        slot = ts("2024-01-02 03:00")
        results = await asyncio.gather(*(s.catalog.start_scheduled(d, slot) for s in (a, b, a, b)))
        assert sum(r is not None for r in results) == 1
        assert len(await all_runs(a)) == 3


async def test_the_task_starts_runs_on_time(sqlite_url: str, jobs_dir: Path) -> None:
    define(jobs_dir, "minutely", 'job_type = "noop"\nschedule = "* * * * *"\n')
    clock = Clock("2024-01-01 00:00:30")
    async with process(sqlite_url, jobs_dir, clock) as s:
        s.poll_interval = 0.02
        await s.start()
        try:
            assert await all_runs(s) == []
            clock.set("2024-01-01 00:01:00")
            await wait_until(s, 1)
            (job,) = await all_runs(s)
            await finish(s, job)
            clock.set("2024-01-01 00:02:00")
            await wait_until(s, 2)
        finally:
            await s.stop()


async def wait_until(s: Scheduler, n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(await all_runs(s)) < n:
        if time.monotonic() > deadline:
            pytest.fail(f"the scheduler did not start run {n} within {timeout}s")
        await asyncio.sleep(0.01)
    assert len(await all_runs(s)) == n
