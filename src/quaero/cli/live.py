"""A live progress bar for one job, driven by its events (no polling of the counters)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..app import App
from ..events.types import JOB_STATUS_CHANGE, PARENT_JOB_PROGRESS, Event
from ..jobs.models import Job
from ..jobs.progress import progress_text

__all__ = ["watch_job"]


async def watch_job(
    app: App, job_id: int, show: bool = True, timeout: float | None = None, documents: bool = False
) -> Job:
    """Show the job's progress until it is terminal; returns the final job."""
    job = await app.store.get_job(job_id)
    assert job is not None
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
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[text]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    task = progress.add_task("job", total=None, status=job.status.value, text="", rate="")
    try:
        with progress:
            async with asyncio.timeout(timeout):
                while True:
                    job = await app.store.get_job(job_id) or job
                    c = job.children
                    done = c.completed + c.failed + c.cancelled
                    elapsed = max(time.monotonic() - started, 1e-6)
                    progress.update(
                        task,
                        total=c.total or None,
                        completed=done,
                        status=job.status.value,
                        text=progress_text(c),
                        rate=(f"{done / elapsed:,.0f}/s" if c.total else "")
                        + (f"  {job.result_count} docs" if documents else ""),
                    )
                    if job.is_terminal:
                        return job
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 0.5)
                    await asyncio.sleep(0.1)  # redraw at most ~10 times a second
    finally:
        await sub.close()
