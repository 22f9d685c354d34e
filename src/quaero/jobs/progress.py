"""Turns a parent's child counters into the seed's progress text, payload and overall status."""

from __future__ import annotations

from typing import Any

from .models import Counters, JobStatus

__all__ = ["overall_status", "progress_payload", "progress_text"]


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
) -> dict[str, Any]:
    """The ``parent_job_progress`` payload: the seed's fields exactly (direct children),
    plus ``descendants`` (every job below, by status) when given."""
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
    return out
