"""``quaero jobs logs --follow``: a job's log, live, woken by the event bus.

The bus says "there is more" (a ``log`` or ``job_status_change`` event of the job, or of
its tree with ``--aggregated``); the lines themselves are read from the store after the
last one printed, so they are complete, in order and never printed twice, whichever
process wrote them. It stops when the job (with its children) has ended, or on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

import click

from ..app import App
from ..events.types import JOB_STATUS_CHANGE, LOG, Event
from ..jobs.models import TERMINAL, iso
from ..jobs.progress import overall_status
from ..store.base import LogEntry, LogQuery

__all__ = ["follow_logs", "log_line"]

#: how long to wait for an event before looking anyway (events of other processes are
#: polled by the bus; this only bounds a missed wake-up)
IDLE_CHECK = 2.0
_BATCH = 500


def log_line(e: LogEntry, aggregated: bool, as_json: bool) -> str:
    """One printed log line: ``<time> LEVEL [job] message`` or its JSON object."""
    if as_json:
        return json.dumps(e.to_dict())
    who = f" [{e.job_id}]" if aggregated else ""
    return f"{iso(e.timestamp)} {e.level.upper():7}{who} {e.message}"


async def follow_logs(
    app: App, job_id: int, level: str | None, limit: int, aggregated: bool, as_json: bool
) -> int:
    """Print the newest ``limit`` lines, then new ones as they come; returns the exit code
    (0 when the job ended, 130 on Ctrl-C or SIGTERM)."""
    job = await app.store.get_job(job_id)
    if job is None:
        return 1
    wake = asyncio.Event()
    stop = asyncio.Event()

    def on_event(e: Event) -> None:
        wake.set()

    # subscribed before the first read: nothing written in between is missed
    if aggregated:
        sub = app.bus.subscribe(on_event, types=(LOG, JOB_STATUS_CHANGE), job_ids=(job.root_id,))
    else:
        sub = app.bus.subscribe(
            on_event,
            types=(LOG, JOB_STATUS_CHANGE),
            job_ids=(job_id,),
            where=lambda e: e.job_id == job_id,
        )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        first = await app.store.read_logs(
            LogQuery(job_id, min_level=level, descending=True, limit=limit, aggregated=aggregated)
        )
        first.reverse()
        last_id = _print(first, aggregated, as_json, None)
        while not stop.is_set():
            last_id = await _drain(app, job_id, level, aggregated, as_json, last_id)
            current = await app.store.get_job(job_id)
            if current is None:
                click.echo(f"job {job_id} was deleted", err=True)
                return 1
            if overall_status(current.status, current.children) in TERMINAL:
                await _drain(app, job_id, level, aggregated, as_json, last_id)
                return 0
            wake.clear()
            waiter = asyncio.create_task(wake.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=IDLE_CHECK, return_when="FIRST_COMPLETED")
            for t in (waiter, stopper):
                t.cancel()
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await sub.close()


async def _drain(
    app: App, job_id: int, level: str | None, aggregated: bool, as_json: bool, last: int | None
) -> int | None:
    while True:
        batch = await app.store.read_logs(
            LogQuery(job_id, min_level=level, limit=_BATCH, cursor=last, aggregated=aggregated)
        )
        last = _print(batch, aggregated, as_json, last)
        if len(batch) < _BATCH:
            return last


def _print(
    entries: list[LogEntry], aggregated: bool, as_json: bool, last: int | None
) -> int | None:
    for e in entries:
        click.echo(log_line(e, aggregated, as_json))
        last = e.id
    return last
