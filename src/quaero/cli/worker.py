"""``quaero worker``: run a worker pool until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import signal

import click

from ..config import PREFETCH_INVALID, parse_prefetch
from .main import Ctx, cli, make_app, run_async

__all__ = ["worker"]


class _Prefetch(click.ParamType[str]):
    name = "auto|N"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        if parse_prefetch(str(value)) is PREFETCH_INVALID:
            self.fail('expected "auto" or a number from 0 to 10000', param, ctx)
        return str(value).strip().lower()


PREFETCH = _Prefetch()


@cli.command()
@click.option(
    "--concurrency", type=click.IntRange(1, 10_000), help="Async job slots in this process."
)
@click.option("--lease-seconds", type=float, help="Lease length; heartbeats renew it.")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file."
)
@click.option("--type", "job_types", multiple=True, help="Only run these job types (repeatable).")
@click.option(
    "--prefetch",
    type=PREFETCH,
    help='Jobs to claim ahead of free slots: 0 (the default), a number, or "auto" (only '
    "while jobs run shorter than 50 ms).",
)
@click.pass_obj
def worker(
    ctx: Ctx,
    concurrency: int | None,
    lease_seconds: float | None,
    prefetch: str | None,
    config_file: str | None,
    job_types: tuple[str, ...],
) -> None:
    """Run jobs from the store until interrupted."""
    if config_file:
        ctx.config_file = config_file

    async def go() -> None:
        app = make_app(
            ctx,
            **{
                "worker.concurrency": concurrency,
                "worker.lease_seconds": lease_seconds,
                "worker.prefetch": prefetch,
            },
        )
        async with app:
            for t in job_types:
                app.registry.get(t)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            w = app.worker(job_types=list(job_types) or None)
            app.start_pruner()
            click.echo(
                f"worker {w.id}: concurrency {w.concurrency}, store {app.settings.store.url}",
                err=True,
            )
            await w.run(stop)
            click.echo(f"worker {w.id}: stopped after {w.processed} job(s)", err=True)

    run_async(go)
