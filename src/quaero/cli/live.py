"""A live progress bar for one job, driven by its events (no polling of the counters).

While the bar is shown, log records go through the bar's console (printed above the
bar), never straight to stderr where they would land in the middle of it. The bar
shows the rate and an ETA computed from the counts of the last :data:`RATE_WINDOW`
seconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..app import App
from ..errors import JobNotFound, StoreError
from ..events.types import JOB_STATUS_CHANGE, PARENT_JOB_PROGRESS, Event
from ..failures import FailureStreak
from ..jobs.models import Job
from ..jobs.progress import progress_text
from ..shutdown import wait_event

__all__ = ["ConsoleLogHandler", "Eta", "logs_through", "watch_job"]

log = logging.getLogger(__name__)

#: seconds of history the rate (and so the ETA) is computed over
RATE_WINDOW = 10.0


class ConsoleLogHandler(logging.Handler):
    """Prints log records with ``console.print``: a live display redraws below them."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def logs_through(console: Console) -> Iterator[None]:
    """Route the root logger's output through ``console`` (same format and level)."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = ConsoleLogHandler(console)
    first = next((h for h in saved if h.formatter is not None), None)
    handler.setFormatter(
        first.formatter
        if first is not None and first.formatter is not None
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


class Eta:
    """Rate and time left from (time, done) samples of the last ``window`` seconds."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, done: int) -> None:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()

    def rate(self) -> float | None:
        """Items per second over the window; None until there are two samples apart."""
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 - t0 < 0.5:
            return None
        return max(0.0, (d1 - d0) / (t1 - t0))

    def seconds_left(self, total: int, done: int) -> float | None:
        rate = self.rate()
        if rate is None or total <= 0:
            return None
        if done >= total:
            return 0.0
        return (total - done) / rate if rate > 0 else None


def fmt_eta(seconds: float | None) -> str:
    """``ETA 1:05``, ``ETA 2:03:04``; ``ETA -`` when unknown."""
    if seconds is None:
        return "ETA -"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"ETA {h}:{m:02d}:{s:02d}" if h else f"ETA {m}:{s:02d}"


async def watch_job(
    app: App, job_id: int, show: bool = True, timeout: float | None = None, documents: bool = False
) -> Job:
    """Show the job's progress until it is terminal; returns the final job.

    A store read that fails (:class:`StoreError`: PostgreSQL restarting, a locked file)
    is logged once per streak and tried again; ``timeout`` bounds the whole watch."""
    streak = FailureStreak(log, f"reading job {job_id}")

    async def read() -> Job | None:
        """The job as stored now, or None when the read failed."""
        try:
            found = await app.store.get_job(job_id)
        except StoreError as exc:
            streak.failed(exc)
            return None
        streak.ok()
        if found is None:
            raise JobNotFound(job_id)
        return found

    async with asyncio.timeout(timeout):
        while (first := await read()) is None:
            await asyncio.sleep(0.5)
    job = first
    console = Console(stderr=True)
    show = show and sys.stderr.isatty()
    changed = asyncio.Event()
    latest: dict[str, object] = {}

    def on_event(e: Event) -> None:
        if e.job_id != job_id:
            return
        if e.type == PARENT_JOB_PROGRESS:
            latest.update(e.payload)
        changed.set()

    sub = app.bus.subscribe(
        on_event, types=(PARENT_JOB_PROGRESS, JOB_STATUS_CHANGE), job_ids=(job_id,)
    )
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]{task.fields[status]}"),
        # named colours, not rich's default RGB ones: in a 16-colour terminal those
        # became bright red (the done part, as if failed) and grey (a finished bar)
        BarColumn(complete_style="green", finished_style="bold green", pulse_style="cyan"),
        MofNCompleteColumn(),
        TextColumn("{task.fields[text]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    task = progress.add_task("job", total=None, status=job.status.value, text="", rate="")
    eta = Eta()
    routed = logs_through(console) if show else contextlib.nullcontext()
    try:
        with routed, progress:
            async with asyncio.timeout(timeout):
                while True:
                    job = await read() or job  # a failed read: the last one shown
                    c = job.children
                    done = c.completed + c.failed + c.cancelled
                    now = time.monotonic()
                    elapsed = max(now - started, 1e-6)
                    eta.add(now, done)
                    rate = eta.rate()
                    rate_text = f"{(done / elapsed if rate is None else rate):,.0f}/s"
                    progress.update(
                        task,
                        total=c.total or None,
                        completed=done,
                        status=job.status.value,
                        text=progress_text(c)
                        + (f", {c.cancelled} cancelled" if c.cancelled else ""),
                        rate=(
                            f"{rate_text}  {fmt_eta(eta.seconds_left(c.total, done))}"
                            if c.total
                            else ""
                        )
                        + (f"  {job.result_count} docs" if documents else ""),
                    )
                    if job.is_terminal:
                        return job
                    changed.clear()
                    await wait_event(changed, 0.5)
                    await asyncio.sleep(0.1)  # redraw at most ~10 times a second
    finally:
        await sub.close()
