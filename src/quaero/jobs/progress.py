"""Turns a parent's child counters into the seed's progress text, payload and overall status."""

from __future__ import annotations

from typing import Any

from .models import Counters, JobStatus

__all__ = [
    "RATE_WINDOW",
    "SAMPLE_EVERY",
    "next_samples",
    "overall_status",
    "progress_payload",
    "progress_text",
    "timing",
]

#: the rate is measured over the samples of the last this many seconds
RATE_WINDOW = 30.0
#: at most one (time, finished) sample per parent per this many seconds
SAMPLE_EVERY = 1.0


def progress_text(c: Counters) -> str:
    """``"66 pending, 1 running, 41 completed, 0 failed"`` (the seed's format)."""
    return f"{c.pending} pending, {c.running} running, {c.completed} completed, {c.failed} failed"


def overall_status(own: JobStatus, c: Counters) -> JobStatus:
    """The one rule for a parent's status, used by the store, the API and the UI.

    - no children: the job's own status;
    - any child pending or running: running (unless the parent itself was cancelled or failed);
    - all children terminal: failed if any failed, cancelled if all were cancelled,
      else completed.
    """
    if c.total == 0:
        return own
    if own in (JobStatus.CANCELLED, JobStatus.FAILED):
        return own
    if c.active > 0:
        return JobStatus.RUNNING
    if c.failed > 0:
        return JobStatus.FAILED
    if c.cancelled == c.total:
        return JobStatus.CANCELLED
    return JobStatus.COMPLETED


def progress_payload(
    job_id: int,
    own: JobStatus,
    c: Counters,
    timestamp: str,
    descendants: Counters | None = None,
    times: dict[str, float | None] | None = None,
) -> dict[str, Any]:
    """The ``parent_job_progress`` payload: the seed's fields exactly (direct children),
    plus ``descendants`` (every job below, by status) and :func:`timing`'s fields when
    given."""
    out = {
        "job_id": job_id,
        "progress_text": progress_text(c),
        "status": overall_status(own, c).value,
        "timestamp": timestamp,
        "total_children": c.total,
        "pending_children": c.pending,
        "running_children": c.running,
        "completed_children": c.completed,
        "failed_children": c.failed,
        "cancelled_children": c.cancelled,
    }
    if descendants is not None:
        out["descendants"] = descendants.as_dict()
    if times is not None:
        out.update(times)
    return out


def _finished(c: Counters) -> int:
    return c.completed + c.failed + c.cancelled


def next_samples(samples: list[list[float]], now: float, c: Counters) -> list[list[float]]:
    """A parent's ring of ``[time, children finished]`` samples after a change at ``now``:
    samples older than :data:`RATE_WINDOW` dropped, one added at most every
    :data:`SAMPLE_EVERY` seconds (so at most ~31 are kept). Mirrored in SQL by the
    PostgreSQL commit hook (``quaero_next_samples``, migration 0007)."""
    kept = [s for s in samples if s[0] >= now - RATE_WINDOW]
    if not kept or now - kept[-1][0] >= SAMPLE_EVERY:
        kept.append([now, _finished(c)])
    return kept


def timing(
    own: JobStatus,
    c: Counters,
    samples: list[list[float]],
    now: float,
    started_at: float | None,
    completed_at: float | None,
) -> dict[str, float | None]:
    """``elapsed_seconds`` (since the first start; null before it), ``rate`` (children finished per second over the last
    :data:`RATE_WINDOW` seconds) and ``eta_seconds`` (active children / rate), from the
    parent's counters and its sample ring only (no child is read).

    A job without children has no rate or ETA (null); once done, rate and ETA are 0; an
    ETA is null while the rate is unknown (less than :data:`SAMPLE_EVERY` of history in
    the window) or zero. Mirrored in SQL by ``quaero_timing`` (migration 0007)."""
    status = overall_status(own, c)
    end = completed_at if status.terminal and completed_at is not None else now
    elapsed = None if started_at is None else max(0.0, end - started_at)
    rate: float | None = None
    eta: float | None = None
    if c.total and status.terminal:
        rate, eta = 0.0, 0.0
    elif c.total:
        kept = [s for s in samples if s[0] >= now - RATE_WINDOW]
        if kept and now - kept[0][0] >= SAMPLE_EVERY:
            rate = (_finished(c) - kept[0][1]) / (now - kept[0][0])
        eta = c.active / rate if rate else None
    return {"elapsed_seconds": elapsed, "rate": rate, "eta_seconds": eta}
