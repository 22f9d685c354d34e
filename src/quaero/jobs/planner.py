"""The manager's rules, as a pure function of the rows a transaction has loaded.

Every store backend opens a transaction, loads the affected jobs and their ancestors into
a :class:`Planner`, asks it what to write, writes it and commits. So the rules (state
machine, counters, parent status, log lines, events) live here once, and each backend
only knows how to read and write rows.

A status change produces, in the same transaction:

- the job row (status, timestamps, lease, attempts, error, result);
- the parent's counters, decremented for the old status and incremented for the new one
  (O(1) per change; no recount);
- a job log line ``Status changed: <status>``;
- a ``job_status_change`` event ``{job_id, status, job_type, parent_id, timestamp}``;
- one ``parent_job_progress`` event per touched parent per transaction, carrying the
  counts after the transaction (changes committed together are coalesced: the event
  always shows the latest counts, and every change is covered by one);
- when a parent whose handler has returned sees its last active child become terminal,
  the parent's own status change (the overall status), which cascades up the tree.

A parent's counters count its *direct* children. A grandchild's change updates its own
parent; that parent's status change (when its subtree finishes) updates the grandparent.
Totals do not roll up: a root's counters say how many of its children are done.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidJobSpec, InvalidTransition, JobNotFound, JobStateError, QuaeroError
from ..events.types import (
    JOB_CREATED,
    JOB_DELETED,
    JOB_SPAWN,
    JOB_STATUS_CHANGE,
    LOG,
    PARENT_JOB_PROGRESS,
    NewEvent,
)
from .models import TRANSITIONS, Job, JobStatus, NewJob, StatusChange, iso, job_to_dict
from .progress import overall_status, progress_payload, progress_text

__all__ = ["ChangeResult", "LogLine", "Planner"]

#: at most one progress log line per parent per this many seconds (plus the final one)
PROGRESS_LOG_INTERVAL = 2.0


@dataclass(slots=True)
class LogLine:
    job_id: int
    root_id: int
    ts: float
    level: str
    message: str
    #: a status line the job row can stand for (a store may keep its log id there
    #: instead of a row): ``"run"`` = the first ``Status changed: running`` (at
    #: ``started_at``), ``"end"`` = ``Status changed: <terminal status>`` with no reason
    #: (at ``completed_at``); None = an ordinary line
    synthetic: str | None = None


@dataclass(slots=True)
class ChangeResult:
    """Outcome of one requested change: the job after it, or the error that refused it.

    ``job`` carries the state columns (status, lease, counters, timestamps); its config
    and metadata are not loaded for a status change.
    """

    job_id: int
    job: Job | None = None
    error: QuaeroError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Planner:
    """Collects the writes of one transaction. ``jobs`` holds every loaded row by id."""

    jobs: dict[int, Job]
    now: float = field(default_factory=time.time)
    progress_log_interval: float = PROGRESS_LOG_INTERVAL
    #: rows whose mutable columns (status, lease, counters, ...) must be written
    dirty: set[int] = field(default_factory=set)
    #: rows to insert (new jobs), in id order
    inserts: list[Job] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    #: parents whose counters changed, in first-touched order
    touched_parents: dict[int, None] = field(default_factory=dict)
    #: children not created because their parent reached ``max_children``
    over_budget: int = 0
    over_budget_keys: list[str] = field(default_factory=list)
    _ts: str | None = None

    @property
    def timestamp(self) -> str:
        if self._ts is None:
            self._ts = iso(self.now) or ""
        return self._ts

    # ------------------------------------------------------------------ status changes
    def change(self, ch: StatusChange) -> ChangeResult:
        """Apply one requested change to the loaded rows (nothing is written on error)."""
        job = self.jobs.get(ch.job_id)
        if job is None:
            return ChangeResult(ch.job_id, error=JobNotFound(ch.job_id))
        if ch.expect_owner is not None and (
            job.lease_owner != ch.expect_owner or job.status is not JobStatus.RUNNING
        ):
            return ChangeResult(
                ch.job_id,
                error=JobStateError(
                    f"job {job.id}: lease no longer held by {ch.expect_owner} "
                    f"(status {job.status.value})"
                ),
            )
        target = ch.status
        if ch.handler_done and target is JobStatus.COMPLETED and job.children.total > 0:
            if job.status is JobStatus.RUNNING and job.children.active > 0:
                self._wait_for_children(job, ch.result)
                return ChangeResult(job.id, job=job)
            target = overall_status(JobStatus.RUNNING, job.children)
        if target not in TRANSITIONS[job.status]:
            return ChangeResult(
                job.id, error=InvalidTransition(job.id, job.status.value, target.value)
            )
        self._set_status(job, target, ch)
        return ChangeResult(job.id, job=job)

    def claim(self, job: Job, owner: str, lease_seconds: float) -> None:
        """``pending -> running`` for a worker holding a lease."""
        self._set_status(
            job,
            JobStatus.RUNNING,
            StatusChange(job.id, JobStatus.RUNNING),
            owner=owner,
            lease_until=self.now + lease_seconds,
        )

    def _wait_for_children(self, job: Job, result: Any) -> None:
        job.waiting = True
        job.lease_owner = None
        job.lease_expires_at = None
        if result is not None:
            job.result = result
        self.dirty.add(job.id)
        self.logs.append(
            LogLine(
                job.id,
                job.root_id,
                self.now,
                "info",
                f"Handler finished; waiting for children ({progress_text(job.children)})",
            )
        )

    def _set_status(
        self,
        job: Job,
        new: JobStatus,
        ch: StatusChange,
        owner: str | None = None,
        lease_until: float | None = None,
    ) -> None:
        old = job.status
        first_run = new is JobStatus.RUNNING and job.started_at is None
        job.status = new
        if new is JobStatus.RUNNING:
            job.attempts += 1
            job.lease_owner = owner
            job.lease_expires_at = lease_until
            job.heartbeat_at = self.now if owner else None
            if job.started_at is None:
                job.started_at = self.now
            job.error = None
        elif new is JobStatus.PENDING:
            job.lease_owner = None
            job.lease_expires_at = None
            job.waiting = False
            job.available_at = ch.available_at if ch.available_at is not None else self.now
            if ch.release:
                job.attempts = max(0, job.attempts - 1)
            if ch.error:
                job.error = ch.error
        else:
            job.lease_owner = None
            job.lease_expires_at = None
            job.waiting = False
            job.completed_at = self.now
            if ch.error is not None:
                job.error = ch.error
            if ch.result is not None:
                job.result = ch.result
        self.dirty.add(job.id)
        msg = f"Status changed: {new.value}"
        if ch.reason:
            msg = f"{msg} ({ch.reason})"
        synthetic = "run" if first_run else ("end" if new.terminal and not ch.reason else None)
        self.logs.append(
            LogLine(
                job.id,
                job.root_id,
                self.now,
                "error" if new is JobStatus.FAILED else "info",
                msg,
                synthetic,
            )
        )
        self.events.append(
            NewEvent(
                JOB_STATUS_CHANGE,
                job.id,
                job.root_id,
                {
                    "job_id": job.id,
                    "status": new.value,
                    "job_type": job.job_type,
                    "parent_id": job.parent_id,
                    "timestamp": self.timestamp,
                },
            )
        )
        if job.parent_id is None:
            return
        parent = self.jobs.get(job.parent_id)
        if parent is None:  # parent deleted under us: nothing to count
            return
        c = parent.children
        c.add(old, -1)
        c.add(new, 1)
        self.dirty.add(parent.id)
        self.touched_parents[parent.id] = None
        if parent.waiting and parent.status is JobStatus.RUNNING and c.active == 0:
            self._set_status(
                parent,
                overall_status(JobStatus.RUNNING, c),
                StatusChange(parent.id, JobStatus.COMPLETED, reason="all children finished"),
            )

    # ------------------------------------------------------------------ creation
    def create(
        self,
        specs: Iterable[NewJob],
        first_id: int,
        default_max_attempts: int,
        max_children: int | None = None,
    ) -> list[Job]:
        """Plan the insertion of new jobs with ids from ``first_id``.

        Parents must be loaded; specs whose ``dedupe_key`` is already taken must have been
        filtered out by the caller (the store holds the unique key). With ``max_children``,
        a child that would make its parent's ``total`` exceed it is not created (counted
        in ``over_budget``): a budget the store enforces, whatever the number of workers.
        """
        created: list[Job] = []
        spawned: dict[int, list[int]] = {}
        next_id = first_id
        for spec in specs:
            if spec.max_attempts is not None and spec.max_attempts < 1:
                raise InvalidJobSpec("max_attempts must be at least 1")
            parent = None
            if spec.parent_id is not None:
                parent = self.jobs.get(spec.parent_id)
                if parent is None:
                    raise JobNotFound(spec.parent_id)
                if parent.status.terminal:
                    raise JobStateError(
                        f"job {parent.id} is {parent.status.value}: it cannot get new children"
                    )
                if max_children is not None and parent.children.total >= max_children:
                    self.over_budget += 1
                    if spec.dedupe_key is not None:
                        self.over_budget_keys.append(spec.dedupe_key)
                    continue
            job = Job(
                id=next_id,
                job_type=spec.job_type,
                status=JobStatus.PENDING,
                name=spec.name,
                parent_id=spec.parent_id,
                root_id=parent.root_id if parent else next_id,
                depth=parent.depth + 1 if parent else 0,
                config=spec.config,
                metadata=spec.metadata,
                max_attempts=spec.max_attempts or default_max_attempts,
                available_at=self.now + spec.delay,
                created_at=self.now,
                dedupe_key=spec.dedupe_key,
            )
            next_id += 1
            self.jobs[job.id] = job
            self.inserts.append(job)
            created.append(job)
            if parent is not None:
                parent.children.total += 1
                parent.children.pending += 1
                self.dirty.add(parent.id)
                self.touched_parents[parent.id] = None
                spawned.setdefault(parent.id, []).append(job.id)
            else:
                self.logs.append(
                    LogLine(job.id, job.root_id, self.now, "info", f"Job created ({job.job_type})")
                )
                self.events.append(NewEvent(JOB_CREATED, job.id, job.root_id, job_to_dict(job)))
        for parent_id, ids in spawned.items():
            parent = self.jobs[parent_id]
            self.events.append(
                NewEvent(
                    JOB_SPAWN,
                    parent_id,
                    parent.root_id,
                    {
                        "parent_id": parent_id,
                        "root_id": parent.root_id,
                        "count": len(ids),
                        "first_id": ids[0],
                        "last_id": ids[-1],
                    },
                )
            )
        return created

    # ------------------------------------------------------------------ deletion
    def delete(self, job: Job) -> None:
        """Plan the deletion of a (terminal) job's subtree rooted at ``job``: the
        ``job_deleted`` event and, for a child, its parent's counters."""
        self.events.append(
            NewEvent(
                JOB_DELETED, job.id, job.root_id, {"job_id": job.id, "parent_id": job.parent_id}
            )
        )
        parent = self.jobs.get(job.parent_id) if job.parent_id is not None else None
        if parent is not None:
            parent.children.total -= 1
            parent.children.add(job.status, -1)
            self.dirty.add(parent.id)
            self.touched_parents[parent.id] = None

    # ------------------------------------------------------------------ finishing
    def finish(self) -> None:
        """Append the per-parent progress events and rate-limited progress log lines."""
        for parent_id in self.touched_parents:
            parent = self.jobs[parent_id]
            payload = progress_payload(parent.id, parent.status, parent.children, self.timestamp)
            self.events.append(NewEvent(PARENT_JOB_PROGRESS, parent.id, parent.root_id, payload))
            last = parent.progress_logged_at
            done = parent.children.active == 0
            if done or self.now - last >= self.progress_log_interval:
                text = payload["progress_text"]
                self.logs.append(LogLine(parent.id, parent.root_id, self.now, "info", text))
                self.events.append(
                    NewEvent(
                        LOG,
                        parent.id,
                        parent.root_id,
                        {
                            "job_id": parent.id,
                            "timestamp": self.timestamp,
                            "level": "info",
                            "message": text,
                        },
                    )
                )
                parent.progress_logged_at = self.now
