"""The job model: statuses, the state machine, and the records the store returns."""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidTransition

__all__ = [
    "ACTIVE",
    "RETRYABLE",
    "TERMINAL",
    "Counters",
    "Job",
    "JobStatus",
    "NewJob",
    "SpawnResult",
    "StatusChange",
    "check_transition",
    "duration_seconds",
    "iso",
    "job_to_dict",
    "redact_config",
]


class JobStatus(str, enum.Enum):
    """Status of a job. The values go into JSON and the database unchanged."""

    #: created, waiting for a worker (or for its retry time)
    PENDING = "pending"
    #: claimed by a worker, or a parent waiting for its children
    RUNNING = "running"
    #: finished successfully (a parent: all children terminal, none failed)
    COMPLETED = "completed"
    #: failed after its last attempt (a parent: a child failed)
    FAILED = "failed"
    #: cancelled before it finished
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.PENDING, JobStatus.RUNNING})

#: The only legal status changes.
#:
#: - ``running -> pending``: a retry after a failed attempt, or a released/expired lease;
#: - ``failed|cancelled -> pending``: *retry in place* (same id, attempts reset);
#: - ``completed|failed|cancelled -> running``: *reopen*, only for an ancestor of a job
#:   retried in place (its handler does not run again: it waits for its children).
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PENDING}
    ),
    JobStatus.COMPLETED: frozenset({JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.PENDING, JobStatus.RUNNING}),
    JobStatus.CANCELLED: frozenset({JobStatus.PENDING, JobStatus.RUNNING}),
}

#: statuses a job may be retried in place from
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


def check_transition(job_id: int, current: JobStatus, requested: JobStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> requested`` is legal."""
    if requested not in TRANSITIONS[current]:
        raise InvalidTransition(job_id, current.value, requested.value)


@dataclass(slots=True)
class Counters:
    """A parent's counts of its direct children by status."""

    total: int = 0
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    def add(self, status: JobStatus, n: int = 1) -> None:
        name = status._value_  # not .value: an enum property, slow on this hot path
        setattr(self, name, getattr(self, name) + n)

    @property
    def active(self) -> int:
        return self.pending + self.running

    def as_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "pending": self.pending,
            "running": self.running,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
        }


@dataclass(slots=True)
class Job:
    """A job as stored. ``children`` counts its direct children by status."""

    id: int
    job_type: str
    status: JobStatus
    name: str = ""
    parent_id: int | None = None
    root_id: int = 0
    depth: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    heartbeat_at: float | None = None
    available_at: float = 0.0
    created_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    result: Any = None
    result_count: int = 0
    progress: dict[str, Any] | None = None
    waiting: bool = False
    dedupe_key: str | None = None
    progress_logged_at: float = 0.0
    children: Counters = field(default_factory=Counters)
    #: named counters kept by handlers (e.g. a crawl's skipped URLs by reason)
    stats: dict[str, int] = field(default_factory=dict)
    #: the normalised error key of this job's own failure (see ``quaero.jobs.error_groups``)
    error_group: str | None = None
    #: every job below this one at any depth, by status
    descendants: Counters = field(default_factory=Counters)
    #: when its children were pruned (retention): ``children`` is then the kept summary
    children_pruned_at: float | None = None
    #: ``[time, children finished]`` samples of the last ~30 s (rate and ETA)
    progress_samples: list[list[float]] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(slots=True)
class NewJob:
    """What a caller gives to create a job (top-level when ``parent_id`` is None)."""

    job_type: str
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    parent_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    max_attempts: int | None = None
    #: unique among the parent's children: a second child with the same key is not created
    dedupe_key: str | None = None
    #: seconds to wait before the job may be claimed
    delay: float = 0.0


@dataclass(slots=True)
class SpawnResult:
    """What a bulk spawn did: the children created, and the ones it did not create."""

    created: list[Job] = field(default_factory=list)
    #: a child with the same ``dedupe_key`` already existed under the parent
    duplicates: int = 0
    #: the parent had reached ``max_children``
    over_budget: int = 0
    #: the ``dedupe_key`` of each child not created for the budget (when it had one)
    over_budget_keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StatusChange:
    """A requested status change, applied by the manager.

    ``expect_owner`` makes the change conditional on the worker still holding the lease.
    ``available_at`` is used for retries (``running -> pending``).
    """

    job_id: int
    status: JobStatus
    error: str | None = None
    result: Any = None
    expect_owner: str | None = None
    available_at: float | None = None
    #: a worker releasing a job at shutdown: the attempt is not counted
    release: bool = False
    #: the handler of this job returned (a parent may still wait for its children)
    handler_done: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.error is not None and "\x00" in self.error:  # see bounds.clean_text
            self.error = self.error.replace("\x00", "\ufffd")


def duration_seconds(job: Job) -> float | None:
    """Seconds from the job's first start to its end (None until it has finished)."""
    if job.completed_at is None or job.started_at is None or not job.is_terminal:
        return None
    return round(max(0.0, job.completed_at - job.started_at), 3)


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC with microseconds, or None."""
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat().replace("+00:00", "Z")


#: config keys whose values never leave the store (API, events, logs): credentials
SECRET_CONFIG_KEYS = frozenset({"headers", "cookies", "password", "token", "api_token", "secret"})


def redact_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a job config with credential values replaced by ``"<redacted>"``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECRET_CONFIG_KEYS and value:
            out[key] = {k: "<redacted>" for k in value} if isinstance(value, dict) else "<redacted>"
        else:
            out[key] = value
    return out


def job_to_dict(job: Job) -> dict[str, Any]:
    """The JSON form of a job (see docs/api.md), counters and progress text included.

    Credentials in the config (``headers``, ``cookies``, ...) are redacted."""
    import time

    from .progress import overall_status, progress_text, timing

    c = job.children
    times = timing(
        job.status,
        c,
        job.progress_samples,
        time.time(),
        job.started_at,
        job.completed_at,
    )
    return {
        "id": job.id,
        "parent_id": job.parent_id,
        "root_id": job.root_id,
        "depth": job.depth,
        "job_type": job.job_type,
        "name": job.name,
        "config": redact_config(job.config),
        "metadata": job.metadata,
        "status": job.status.value,
        "overall_status": overall_status(job.status, c).value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "error": job.error,
        "result": job.result,
        "result_count": job.result_count,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "available_at": iso(job.available_at) if job.available_at else None,
        "lease_owner": job.lease_owner,
        "waiting_for_children": job.waiting,
        "progress_text": progress_text(c),
        "children": c.as_dict(),
        "descendants": job.descendants.as_dict(),
        "error_group": job.error_group,
        "duration_seconds": duration_seconds(job),
        "children_pruned_at": iso(job.children_pruned_at),
        **times,
        "progress": job.progress,
        "stats": job.stats,
    }
