"""Job types for the dashboard and CLI tests (``QUAERO_PLUGINS=tests.support.console_jobs``).

- ``picky``: a parent spawning ``children`` ``picky_child`` jobs; those listed in
  ``fail`` fail (at once, no retry), those in ``hold`` wait until cancelled, the others
  sleep ``sleep_ms``; those in ``flaky`` fail on their first run only (a retry in place
  succeeds);
- ``steps``: a leaf job reporting ``progress`` (current / total / message) ``total``
  times, ``sleep_ms`` apart, then holding while ``hold`` is true (until cancelled).
"""

from __future__ import annotations

import asyncio
from typing import Any

from quaero import App, JobContext, NewJob
from quaero.errors import PermanentJobError
from quaero.jobs.registry import JobType


async def picky(ctx: JobContext) -> dict[str, Any]:
    n = int(ctx.config["children"])
    fail = set(ctx.config.get("fail", []))
    hold = set(ctx.config.get("hold", []))
    flaky = set(ctx.config.get("flaky", []))
    sleep_ms = int(ctx.config.get("sleep_ms", 0))
    await ctx.spawn(
        NewJob(
            "picky_child",
            {
                "i": i,
                "fail": i in fail,
                "hold": i in hold,
                "flaky": i in flaky,
                "sleep_ms": sleep_ms,
            },
            name=f"child {i}",
            dedupe_key=str(i),
            max_attempts=1,
        )
        for i in range(n)
    )
    return {"spawned": n}


#: flaky children that already failed once (the workers run in the serving process)
_FAILED_ONCE: set[int] = set()


async def picky_child(ctx: JobContext) -> None:
    if ctx.config.get("flaky") and ctx.id not in _FAILED_ONCE:
        _FAILED_ONCE.add(ctx.id)
        raise PermanentJobError(f"http_503: child {ctx.config['i']} failed on its first run")
    if ctx.config.get("fail"):
        raise PermanentJobError(f"http_503: child {ctx.config['i']} failed on purpose")
    if ctx.config.get("hold"):
        await ctx.wait_cancelled()
        ctx.check_cancelled()
    await asyncio.sleep(int(ctx.config.get("sleep_ms", 0)) / 1000)


async def steps(ctx: JobContext) -> None:
    total = int(ctx.config.get("total", 5))
    for i in range(1, total + 1):
        await ctx.progress(i, total, f"step {i} of {total}")
        await asyncio.sleep(int(ctx.config.get("sleep_ms", 0)) / 1000)
    if ctx.config.get("hold"):
        await ctx.wait_cancelled()
        ctx.check_cancelled()


def _any(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg


def register(app: App) -> None:
    app.register(JobType("picky", picky, _any, max_attempts=1, description="test parent"))
    app.register(JobType("picky_child", picky_child, _any, max_attempts=1, description="test"))
    app.register(JobType("steps", steps, _any, max_attempts=1, description="test leaf"))
