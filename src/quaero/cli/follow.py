"""``quaero jobs logs --follow``: a job's log, live, woken by the event bus.

The bus says "there is more" (a ``log`` or ``job_status_change`` event of the job, or of
its tree with ``--aggregated``); the lines themselves are read from the store after the
last one printed, so they are complete, in order and never printed twice, whichever
process wrote them. It stops when the job (with its children) has ended, or on Ctrl-C.

A line takes its id when its transaction writes it and shows when that transaction
commits. With one writer at a time (SQLite) that is id order; on PostgreSQL several
processes commit concurrently (a commit may wait for a parent row), so a line may show
after lines with higher ids were printed. There the reads start a little behind the last
line printed (:data:`SETTLE_SECONDS` of printed lines) and print what was not printed yet.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import signal
import time

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
#: PostgreSQL: how long after a line with a higher id was printed one with a lower id may
#: still show (a transaction's time from taking the id to its commit, with margin)
SETTLE_SECONDS = 2.0


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
        out = _Printed(aggregated, as_json, app.store.dialect != "sqlite")
        if first:  # the lines before the newest ``limit`` stay unprinted
            out.settled = first[0].id - 1
        out.print(first)
        while not stop.is_set():
            await _drain(app, job_id, level, aggregated, out)
            current = await app.store.get_job(job_id)
            if current is None:
                click.echo(f"job {job_id} was deleted", err=True)
                return 1
            # the row itself ended too: a parent whose children all ended may still run
            # its handler or wait for the commit that finishes it (its final line)
            if current.is_terminal and (
                overall_status(current.status, current.children) in TERMINAL
            ):
                await _drain(app, job_id, level, aggregated, out)
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


async def _drain(app: App, job_id: int, level: str | None, aggregated: bool, out: _Printed) -> None:
    """Print the lines not printed yet. Each read starts at the floor and is one snapshot
    (``read_logs``) long enough for the re-read lines and :data:`_BATCH` new ones, so a
    job's line that shows late (its transaction took the id before others committed)
    comes out before that job's later lines: a snapshot holding a later line of a job
    holds its earlier ones (the job's transactions commit in order). Reading on from the
    last line of a full batch in a new snapshot could print such a later line first."""
    while True:
        cursor = out.floor()
        limit = len(out.recent) + _BATCH
        batch = await app.store.read_logs(
            LogQuery(job_id, min_level=level, limit=limit, cursor=cursor, aggregated=aggregated)
        )
        out.print(batch)
        if len(batch) < limit:
            return


class _Printed:
    """What was printed: the last id and, where lines may show out of id order, the ids
    printed in the last :data:`SETTLE_SECONDS` (reads start below them)."""

    def __init__(self, aggregated: bool, as_json: bool, settle: bool) -> None:
        self.aggregated = aggregated
        self.as_json = as_json
        self.settle = settle
        self.last: int | None = None
        #: (monotonic time, last id printed then), oldest first
        self.marks: collections.deque[tuple[float, int | None]] = collections.deque()
        self.settled: int | None = None
        self.recent: set[int] = set()

    def floor(self) -> int | None:
        """The cursor to read from: every line up to it showed and was printed. Every
        read re-reads the lines printed in the last :data:`SETTLE_SECONDS`, so a late
        line still comes out in id order with the lines of its job printed after it."""
        if not self.settle:
            return self.last
        now = time.monotonic()
        settled = self.settled
        while self.marks and now - self.marks[0][0] >= SETTLE_SECONDS:
            mark = self.marks.popleft()[1]
            if mark is not None:
                self.settled = mark
        if self.settled != settled and self.settled is not None:
            self.recent = {i for i in self.recent if i > self.settled}
        self.marks.append((now, self.last))
        return self.settled

    def print(self, entries: list[LogEntry]) -> None:
        for e in entries:
            if e.id in self.recent or (
                not self.settle and self.last is not None and e.id <= self.last
            ):
                continue
            click.echo(log_line(e, self.aggregated, self.as_json))
            if self.settle:
                self.recent.add(e.id)
            self.last = e.id if self.last is None else max(self.last, e.id)
