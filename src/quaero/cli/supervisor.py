"""``quaero worker --processes N``: N worker processes on this machine, kept running.

One Python process runs Python code on one core at a time (the GIL), so one worker
process uses about one core however many slots it has. The supervisor starts N
``quaero worker`` processes with the same options (each with ``--concurrency`` slots) and:

* restarts one that stops (killed, crashed, or stopped by a signal sent to it alone)
  after a backoff of 1 s, doubling up to 30 s,
  back to 1 s once a process has run for a minute; its running jobs come back to pending
  when their leases expire, as with any worker that dies;
* on SIGINT or SIGTERM sends SIGTERM to every process (each lets its running jobs finish
  or releases them within its shutdown timeout), waits for them and exits 0; a second
  SIGINT/SIGTERM passes one more SIGTERM on (each process then releases its running jobs
  at once); a process still there ``KILL_GRACE`` seconds after its shutdown timeout is
  killed. The processes have a process group of their own, so a terminal's Ctrl-C
  reaches them through the supervisor only, once;
* stops everything and exits with a process's status when it fails in its first
  ``START_GRACE`` seconds (a bad store URL, a plugin that does not import): restarting
  cannot fix that.

The store is opened once by the caller before any process starts, so migrations never
race. The model is the pre-fork supervisors of the peers (gunicorn's arbiter, celery's
prefork pool, dramatiq's ``--processes``), with processes started fresh (``python -m
quaero``), not forked, so no event loop or connection is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from ..shutdown import wait_event

__all__ = ["KILL_GRACE", "START_GRACE", "supervise"]

#: seconds after its first start within which a failing process stops the supervisor
START_GRACE = 5.0
#: seconds past the workers' shutdown timeout before a process that did not stop is killed
KILL_GRACE = 10.0
#: restart backoff: first delay, cap, and the run time that resets it (seconds)
_BACKOFF_FIRST = 1.0
_BACKOFF_MAX = 30.0
_BACKOFF_RESET = 60.0


@dataclass
class _Process:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    starts: int = 0
    delay: float = _BACKOFF_FIRST
    #: the status that stopped the supervisor (a failure at start)
    fatal: int | None = None


def _say(message: str) -> None:
    click.echo(f"supervisor: {message}", err=True)


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


async def _keep(p: _Process, command: Sequence[str], stop: asyncio.Event) -> None:
    """Run one worker process, restarting it until ``stop`` is set."""
    while not stop.is_set():
        # a process group of its own: a terminal's Ctrl-C goes to the supervisor only,
        # which passes it on once (a process counts its signals: the second is a hurry)
        p.proc = await asyncio.create_subprocess_exec(*command, process_group=0)
        p.started_at = time.monotonic()
        p.starts += 1
        if stop.is_set():  # stopped while it started: the stop did not signal it
            with contextlib.suppress(ProcessLookupError):
                p.proc.send_signal(signal.SIGTERM)
        code = await p.proc.wait()
        ran = time.monotonic() - p.started_at
        if stop.is_set():
            return
        what = f"worker process {p.index + 1} (pid {p.proc.pid}) {_describe(code)}"
        if p.starts == 1 and ran < START_GRACE and code > 0:
            _say(f"{what} {ran:.1f} s after it started; stopping")
            p.fatal = code
            stop.set()
            return
        if ran >= _BACKOFF_RESET:
            p.delay = _BACKOFF_FIRST
        _say(f"{what}; restarting in {p.delay:g} s")
        if await wait_event(stop, p.delay):
            return
        p.delay = min(p.delay * 2, _BACKOFF_MAX)


async def supervise(
    command: Sequence[str],
    processes: int,
    shutdown_timeout: float,
    stop: asyncio.Event | None = None,
) -> int:
    """Run ``processes`` copies of ``command`` (a ``quaero worker`` command line) until
    SIGINT/SIGTERM (or ``stop`` is set); returns the exit status (0, or the status of a
    process that failed at start)."""
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    procs = [_Process(i) for i in range(processes)]

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            return
        # again: each process releases its running jobs now (its own second signal)
        _say("releasing running jobs now")
        _signal_all(procs, signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    tasks = [asyncio.ensure_future(_keep(p, command, stop)) for p in procs]
    _say(f"{processes} worker processes")
    try:
        all_done: asyncio.Future[Any] = asyncio.gather(*tasks)
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait({all_done, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not all_done.done():
            _signal_all(procs, signal.SIGTERM)
            _, late = await asyncio.wait({all_done}, timeout=shutdown_timeout + KILL_GRACE)
            if late:
                for p in procs:
                    if p.proc is not None and p.proc.returncode is None:
                        _say(f"worker process {p.index + 1} (pid {p.proc.pid}) did not stop")
                        with contextlib.suppress(ProcessLookupError):
                            p.proc.kill()
        await all_done
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return next((p.fatal for p in procs if p.fatal is not None), 0)


def _signal_all(procs: list[_Process], sig: signal.Signals) -> None:
    for p in procs:
        if p.proc is not None and p.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.proc.send_signal(sig)


def worker_command(argv: Sequence[str]) -> list[str]:
    """The command line of one worker process: this invocation's arguments with
    ``--processes 1`` (the last value of a repeated option wins) and this process's pid
    (a worker process stops when its supervisor is gone)."""
    return [
        sys.executable,
        "-m",
        "quaero",
        *argv,
        "--processes",
        "1",
        "--supervisor-pid",
        str(os.getpid()),
    ]
