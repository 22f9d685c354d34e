"""``quaero worker``: run a worker pool until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys

import click

from ..config import MAX_PROCESSES, PREFETCH_INVALID, parse_prefetch
from ..errors import QuaeroError
from ..jobs.worker import Worker
from ..shutdown import wait_event
from .main import Ctx, cli, fail, make_app, run_async
from .supervisor import supervise, worker_command

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


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a container's or ``taskset``'s
    limit), as ``--processes 0`` counts them; ``os.cpu_count()`` where there is none."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


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
@click.option(
    "--processes",
    type=click.IntRange(0, MAX_PROCESSES),
    help="Worker processes on this machine, each with --concurrency slots, restarted if "
    "they die (0: one per usable CPU; default 1). One process uses about one core.",
)
@click.option("--supervisor-pid", type=int, hidden=True)
@click.pass_obj
def worker(
    ctx: Ctx,
    concurrency: int | None,
    lease_seconds: float | None,
    prefetch: str | None,
    config_file: str | None,
    job_types: tuple[str, ...],
    processes: int | None,
    supervisor_pid: int | None,
) -> None:
    """Run jobs from the store until interrupted."""
    if config_file:
        ctx.config_file = config_file
    overrides = {
        "worker.concurrency": concurrency,
        "worker.lease_seconds": lease_seconds,
        "worker.prefetch": prefetch,
        "worker.processes": processes,
    }

    async def supervised(n: int) -> int:
        # open the store once: a bad URL fails here, and migrations run before any worker
        app = make_app(ctx, **overrides)
        async with app:
            for t in job_types:
                app.registry.get(t)
            timeout = app.settings.worker.shutdown_timeout
        return await supervise(worker_command(sys.argv[1:]), n, timeout)

    try:
        n = ctx.settings(**overrides).worker.processes
    except QuaeroError as exc:
        fail(str(exc))
    if n != 1:
        sys.exit(run_async(lambda: supervised(n or usable_cpus())))

    async def go() -> None:
        app = make_app(ctx, **overrides)
        async with app:
            for t in job_types:
                app.registry.get(t)
            stop = asyncio.Event()
            w = app.worker(job_types=list(job_types) or None)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, _on_signal, w, stop)
            app.start_pruner()
            click.echo(
                f"worker {w.id}: concurrency {w.concurrency}, store {app.settings.store.url}",
                err=True,
            )
            if supervisor_pid is not None:
                loop.add_signal_handler(signal.SIGHUP, _orphaned, supervisor_pid, w.id, stop)
                _die_with(supervisor_pid)
            watch = (
                asyncio.create_task(_watch_supervisor(supervisor_pid, w.id, stop))
                if supervisor_pid is not None
                else None
            )
            try:
                await w.run(stop)
            finally:
                if watch is not None:
                    watch.cancel()
            click.echo(f"worker {w.id}: stopped after {w.processed} job(s)", err=True)

    run_async(go)


def _on_signal(w: Worker, stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM: the first stops the worker gracefully (running jobs get up to the
    shutdown timeout to finish), the next releases the running jobs at once."""
    if not stop.is_set():
        stop.set()
        click.echo(
            f"worker {w.id}: stopping; running jobs have {w.shutdown_timeout:g} s to finish "
            "(interrupt again to release them now)",
            err=True,
        )
    else:
        w.hurry()
        click.echo(f"worker {w.id}: releasing running jobs now", err=True)


def _die_with(pid: int) -> None:
    """Have the kernel send this process SIGHUP (handled as a graceful stop) the moment its
    parent, the supervisor ``pid``, dies (Linux ``PR_SET_PDEATHSIG``; elsewhere the
    once-a-second check of :func:`_watch_supervisor` alone notices)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGHUP), 0, 0, 0)
    if os.getppid() != pid:  # it died before the request: no signal will come
        os.kill(os.getpid(), signal.SIGHUP)


def _orphaned(pid: int, worker_id: str, stop: asyncio.Event) -> None:
    if not stop.is_set():
        click.echo(f"worker {worker_id}: its supervisor (pid {pid}) is gone; stopping", err=True)
        stop.set()


#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h)
_PR_SET_PDEATHSIG = 1
#: seconds between two looks of a supervised worker process at its supervisor
SUPERVISOR_CHECK = 1.0


async def _watch_supervisor(pid: int, worker_id: str, stop: asyncio.Event) -> None:
    """Stop this worker (gracefully) once its supervisor is gone: a supervisor that was
    SIGKILLed (or crashed) cannot stop its processes, which would run on unsupervised,
    orphaned, forever. The parent pid changes when the parent dies (gunicorn's workers
    check the same)."""
    while os.getppid() == pid:
        if await wait_event(stop, SUPERVISOR_CHECK):
            return
    _orphaned(pid, worker_id, stop)
