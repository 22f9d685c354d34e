"""``quaero worker``: run a worker pool until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import signal

import click

from .main import Ctx, cli, make_app, run_async

__all__ = ["worker"]


@cli.command()
@click.option(
    "--concurrency", type=click.IntRange(1, 10_000), help="Async job slots in this process."
)
@click.option("--lease-seconds", type=float, help="Lease length; heartbeats renew it.")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file."
)
@click.option("--type", "job_types", multiple=True, help="Only run these job types (repeatable).")
@click.pass_obj
def worker(
    ctx: Ctx,
    concurrency: int | None,
    lease_seconds: float | None,
    config_file: str | None,
    job_types: tuple[str, ...],
) -> None:
    """Run jobs from the store until interrupted."""
    if config_file:
        ctx.config_file = config_file

    async def go() -> None:
        app = make_app(
            ctx, **{"worker.concurrency": concurrency, "worker.lease_seconds": lease_seconds}
        )
        async with app:
            for t in job_types:
                app.registry.get(t)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
            w = app.worker(job_types=list(job_types) or None)
            click.echo(
                f"worker {w.id}: concurrency {w.concurrency}, store {app.settings.store.url}",
                err=True,
            )
            await w.run(stop)
            click.echo(f"worker {w.id}: stopped after {w.processed} job(s)", err=True)

    run_async(go)
