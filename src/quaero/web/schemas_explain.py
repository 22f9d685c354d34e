"""Response bodies of ``GET /api/workers`` and ``GET /api/jobs/{id}/explain``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .schemas import ChildCounts

__all__ = [
    "ExplainChildren",
    "ExplainHandler",
    "ExplainOut",
    "ExplainPending",
    "ExplainReason",
    "ExplainRunning",
    "ExplainWorkers",
    "PendingTypeOut",
    "WorkerOut",
    "WorkerPage",
]


class WorkerOut(BaseModel):
    """A worker process in the registry (upserted on its heartbeat)."""

    id: str = Field(examples=["host:4242:1a2b3c4d"])
    host: str
    pid: int
    started_at: str | None
    concurrency: int = Field(description="async job slots")
    job_types: list[str] = Field(description="the job types it claims")
    running: int = Field(description="jobs its handlers run now")
    processed: int = Field(description="jobs it finished since it started")
    heartbeat_at: str | None
    heartbeat_age_seconds: float
    expires_at: str | None = Field(description="not live after this unless it heartbeats")
    live: bool


class WorkerPage(BaseModel):
    items: list[WorkerOut]
    live: int = Field(description="live workers")
    job_types: list[str] = Field(description="job types some live worker serves")


class ExplainReason(BaseModel, extra="allow"):
    """One reason: a ``kind``, a sentence, and the numbers behind it (by kind)."""

    kind: str = Field(
        description="done | not_due | waiting_for_worker | type_unserved | handler_running"
        " | lease_expired | finishing | no_live_worker | children_pending"
        " | children_retries_scheduled | children_type_unserved | children_running"
        " | children_leases_expired"
    )
    message: str


class ExplainHandler(BaseModel):
    """The job's own handler (a running job that is not waiting for its children)."""

    worker_id: str | None
    worker_live: bool
    heartbeat_at: str | None
    heartbeat_age_seconds: float | None
    lease_expires_at: str | None
    lease_expired: bool
    attempt: int
    max_attempts: int


class PendingTypeOut(BaseModel):
    job_type: str
    count: int
    not_due: int
    exact: bool
    next_available_at: str | None
    served: bool = Field(description="some live worker claims this type")


class ExplainPending(BaseModel):
    count: int = Field(description="pending children (the parent's exact counter)")
    due: int | None = Field(description="due now (null when the not-due count is a bound)")
    not_due: int
    exact: bool = Field(description="false: not_due and retries are lower bounds")
    next_available_at: str | None
    retries_scheduled: int
    next_retry_at: str | None
    by_type: list[PendingTypeOut]
    types_complete: bool


class ExplainRunning(BaseModel):
    count: int = Field(description="running children (the parent's exact counter)")
    scanned: int
    exact: bool
    handlers_running: int
    waiting_for_children: int
    oldest_heartbeat_at: str | None
    oldest_heartbeat_age_seconds: float | None
    expired_leases: int
    expired_job_ids: list[int]
    waiting_job_ids: list[int]
    workers: list[str]


class ExplainChildren(BaseModel):
    counts: ChildCounts
    pending: ExplainPending | None
    running: ExplainRunning | None


class ExplainWorkers(BaseModel):
    live: int
    registered: int
    job_types: list[str]


class ExplainOut(BaseModel):
    """Why a job is not done (``quaero.jobs.explain``)."""

    job_id: int
    status: str
    overall_status: str
    done: bool
    waiting_for_children: bool
    summary: list[str] = Field(
        examples=[["1,000 children pending, of which 200 not due yet (next at ...)"]]
    )
    reasons: list[ExplainReason]
    handler: ExplainHandler | None
    children: ExplainChildren
    workers: ExplainWorkers
    generated_at: str | None
