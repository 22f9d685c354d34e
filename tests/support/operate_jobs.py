"""A plugin for ``QUAERO_PLUGINS`` used by the failure-rule reproduction: a parent with
``max_attempts=1`` that spawns 3 children (each sleeps 4 s) and then awaits a long sleep."""

from __future__ import annotations

import asyncio

from quaero import App, JobContext, NewJob


def register(app: App) -> None:
    @app.job("spawn_then_sleep", max_attempts=1)
    async def spawn_then_sleep(ctx: JobContext) -> None:
        await ctx.spawn(NewJob("sleep4", {}, dedupe_key=str(i)) for i in range(3))
        await asyncio.sleep(3600)

    @app.job("sleep4")
    async def sleep4(ctx: JobContext) -> None:
        await asyncio.sleep(4)
