"""``quaero run TYPE --config JSON [--wait] [--json]``: start a job (and watch it)."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import click

from ..jobs.models import JobStatus, job_to_dict
from ..jobs.worker import Worker
from ..jobs.worker_registry import served_types
from .live import watch_job
from .main import Ctx, Seconds, cli, fail, make_app, print_json, run_async
from .output import children_text

__all__ = ["run"]


def parse_json_config(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--config is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail("--config must be a JSON object, e.g. '{\"children\": 100}'")
    return dict(value)


@cli.command()
@click.argument("job_type")
@click.option("--config", "config_json", help="Job config as a JSON object.")
@click.option("--name", default="", help="Job name (default: the type).")
@click.option("--wait/--no-wait", default=False, help="Watch the job until it ends.")
@click.option("--json", "as_json", is_flag=True, help="Print the final job as JSON.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    help="In-process worker slots when --wait runs workers.",
)
@click.option("--timeout", type=Seconds(), help="Give up waiting after this many seconds.")
@click.pass_obj
def run(
    ctx: Ctx,
    job_type: str,
    config_json: str | None,
    name: str,
    wait: bool,
    as_json: bool,
    concurrency: int | None,
    timeout: float | None,
) -> None:
    """Start a job of JOB_TYPE. With --wait, run workers in-process if none are alive,
    show live progress and exit non-zero unless the job completed."""
    config = parse_json_config(config_json)

    async def go() -> int:
        app = make_app(ctx, **{"worker.concurrency": concurrency})
        async with app:
            job = await app.submit(job_type, config, name)
            if not wait:
                if as_json:
                    print_json(job_to_dict(job))
                else:
                    click.echo(f"started job {job.id} ({job.job_type})")
                return 0
            worker: Worker | None = None
            # the worker registry says whether a live worker process serves this type
            if job.job_type not in served_types(await app.store.list_workers(), time.time()):
                worker = app.worker()
                await worker.start()
            loop = asyncio.get_running_loop()
            interrupted = asyncio.Event()
            loop.add_signal_handler(signal.SIGINT, interrupted.set)
            loop.add_signal_handler(signal.SIGTERM, interrupted.set)
            watcher = asyncio.create_task(watch_job(app, job.id, show=not as_json, timeout=timeout))
            stopper = asyncio.create_task(interrupted.wait())
            try:
                done, _ = await asyncio.wait(
                    {watcher, stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopper in done:
                    watcher.cancel()
                    n = await app.manager.cancel(job.id)
                    click.echo(f"interrupted: cancelled job {job.id} ({n} job(s))", err=True)
                    final = await app.store.get_job(job.id)
                else:
                    stopper.cancel()
                    try:
                        final = watcher.result()
                    except TimeoutError:
                        fail(f"job {job.id} did not finish within {timeout}s", code=3)
                        return 3
            finally:
                if worker is not None:
                    await worker.stop()
            assert final is not None
            if as_json:
                print_json(job_to_dict(final))
            else:
                d = job_to_dict(final)
                text = children_text(final.children) if final.children.total else "no children"
                click.echo(f"job {final.id} {d['overall_status']}: {text}")
                if final.error:
                    click.echo(f"error: {final.error}", err=True)
            if stopper in done:
                return 130
            return 0 if final.status is JobStatus.COMPLETED else 1

    raise SystemExit(run_async(go))
