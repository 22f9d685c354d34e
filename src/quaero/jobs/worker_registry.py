"""The worker registry: which worker processes are alive, what they run, how busy they are.

Every :class:`~quaero.jobs.worker.Worker` upserts its row when it starts and on each
heartbeat tick (``lease_seconds / 3``), and deletes it when it stops gracefully. A row
lives until ``expires_at`` (its last heartbeat plus its lease length: the moment its
leases would expire too); after that the worker is dead, shown only on request, and the
row is deleted :data:`FORGET_AFTER` seconds later by the next registry write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import iso

__all__ = ["FORGET_AFTER", "WorkerInfo", "served_types", "worker_to_dict"]

#: seconds after its expiry that a dead worker's row is deleted
FORGET_AFTER = 3600.0


@dataclass(slots=True)
class WorkerInfo:
    """One worker process as registered in the store (times: epoch seconds)."""

    id: str
    host: str
    pid: int
    started_at: float
    concurrency: int
    job_types: list[str] = field(default_factory=list)
    #: jobs its handlers are running now
    running: int = 0
    #: jobs it finished (completed, failed or retried) since it started
    processed: int = 0
    heartbeat_at: float = 0.0
    #: when it stops counting as live unless it heartbeats again
    expires_at: float = 0.0

    def live(self, now: float) -> bool:
        return self.expires_at > now


def served_types(workers: Iterable[WorkerInfo], now: float) -> set[str]:
    """The job types some live worker claims."""
    out: set[str] = set()
    for w in workers:
        if w.live(now):
            out.update(w.job_types)
    return out


def worker_to_dict(w: WorkerInfo, now: float) -> dict[str, Any]:
    """The JSON form of a worker (``GET /api/workers``, ``quaero workers ls --json``)."""
    return {
        "id": w.id,
        "host": w.host,
        "pid": w.pid,
        "started_at": iso(w.started_at),
        "concurrency": w.concurrency,
        "job_types": list(w.job_types),
        "running": w.running,
        "processed": w.processed,
        "heartbeat_at": iso(w.heartbeat_at),
        "heartbeat_age_seconds": round(max(0.0, now - w.heartbeat_at), 3),
        "expires_at": iso(w.expires_at),
        "live": w.live(now),
    }
