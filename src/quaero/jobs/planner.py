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
  the parent's own status change (the overall status), which cascades up the tree;
- every ancestor's ``descendants`` counters (all jobs below it at any depth), O(depth);
- on a failure with an error, the error group counts of every ancestor (O(depth)), and
  their decrement when that job is retried or deleted (:mod:`.error_groups`).

The failure rule, applied here once for every path (a handler's exception at its last
attempt, ``PermanentJobError``, a lease expired on the last attempt, a cancel): when a
job ends ``failed`` or ``cancelled``, every pending or running job below it is cancelled
in the same transaction. The store must have loaded that active subtree (a job that ends
failed or cancelled with active children not loaded is a store bug: StoreError).

Retry in place (:meth:`Planner.retry`) moves a failed or cancelled job back to pending
under the same id; every terminal ancestor reopens to running and waits for its
children (its handler does not run again).

A parent's ``children`` counters count its *direct* children; ``descendants`` count the
whole subtree. A grandchild's change updates its parent's ``children`` and the
``descendants`` of every ancestor.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    InvalidJobSpec,
    InvalidTransition,
    JobNotFound,
    JobStateError,
    QuaeroError,
    StoreError,
)
from ..events.types import (
    JOB_CREATED,
    JOB_DELETED,
    JOB_SPAWN,
    JOB_STATUS_CHANGE,
    LOG,
    PARENT_JOB_PROGRESS,
    NewEvent,
)
from .error_groups import SAMPLES, ErrorDelta, error_key
from .models import (
    ACTIVE,
    RETRYABLE,
    TRANSITIONS,
    Counters,
    Job,
    JobStatus,
    NewJob,
    StatusChange,
    iso,
    job_to_dict,
)
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


@dataclass(frozen=True, slots=True)
class TreeLimits:
    """How far job trees may grow (``[jobs] max_depth`` and ``max_children_per_job``).

    Enforced when children are created, in the spawning transaction: a spawn that would
    put a job deeper than ``max_depth`` (top-level jobs are depth 0) or give one parent
    more than ``max_children_per_job`` children raises InvalidJobSpec and creates none.
    """

    max_depth: int = 64
    max_children_per_job: int = 10_000_000


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
    #: ancestors whose ``descendants`` changed (a superset of ``touched_parents``)
    touched_ancestors: dict[int, None] = field(default_factory=dict)
    #: error group changes by (ancestor id, key)
    error_deltas: dict[tuple[int, str], ErrorDelta] = field(default_factory=dict)
    #: ancestors an operation needed that were not loaded (the store loads them, replans)
    missing: set[int] = field(default_factory=set)
    _kids: dict[int, list[int]] | None = None
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
        if job.status in RETRYABLE and target is JobStatus.PENDING and ch.expect_owner is None:
            return self.retry(job.id)
        if job.status.terminal and target is JobStatus.RUNNING:  # reopen is not requested
            return ChangeResult(
                job.id, error=InvalidTransition(job.id, job.status.value, target.value)
            )
        # a job cannot complete while jobs below it run: it waits for them (the overall
        # status rule), whoever asks
        if target is JobStatus.COMPLETED and job.children.total > 0:
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

    def expire(self, job: Job) -> ChangeResult:
        """A running job whose lease expired: back to pending, or failed after its last
        attempt (then its active subtree is cancelled, as on every failure path)."""
        last = job.attempts >= job.max_attempts
        return self.change(
            StatusChange(
                job.id,
                JobStatus.FAILED if last else JobStatus.PENDING,
                error="lease expired on the last attempt"
                if last
                else "lease expired (worker lost)",
                reason="lease expired",
            )
        )

    def retry(self, job_id: int) -> ChangeResult:
        """Retry in place: a failed or cancelled job goes back to pending under the same
        id with its attempts reset; its previous error stays in its log. Every terminal
        ancestor reopens to running and waits for its children. Refused (JobStateError)
        for a job that is not failed or cancelled."""
        job = self.jobs.get(job_id)
        if job is None:
            return ChangeResult(job_id, error=JobNotFound(job_id))
        if job.status not in RETRYABLE:
            return ChangeResult(
                job_id,
                error=JobStateError(
                    f"job {job_id} is {job.status.value}: only failed or cancelled jobs"
                    " can be retried"
                ),
            )
        before = f" (previous error: {job.error})" if job.error else ""
        self.logs.append(LogLine(job.id, job.root_id, self.now, "info", f"Retry in place{before}"))
        self._set_status(
            job,
            JobStatus.PENDING,
            StatusChange(job.id, JobStatus.PENDING, reason="retry in place"),
            mode="retry",
        )
        return ChangeResult(job.id, job=job)

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
        mode: str = "",
    ) -> None:
        """Change one loaded job's status (already validated) and everything that goes
        with it. ``mode`` is ``"retry"`` (retry in place) or ``"reopen"`` (an ancestor of
        a retried job) for the two changes that are not a worker's."""
        old = job.status
        if new not in TRANSITIONS[old]:  # a bug in a caller of the planner
            raise InvalidTransition(job.id, old.value, new.value)
        job.status = new
        if mode == "reopen":
            job.waiting = True
            job.lease_owner = None
            job.lease_expires_at = None
            job.completed_at = None
        elif new is JobStatus.RUNNING:
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
            if mode == "retry":
                job.attempts = 0
                job.error = None
                job.completed_at = None
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
        self.logs.append(
            LogLine(
                job.id, job.root_id, self.now, "error" if new is JobStatus.FAILED else "info", msg
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
        self._count_error(job, old, new)
        ancestors = self._ancestors(job)
        for a in ancestors:
            a.descendants.add(old, -1)
            a.descendants.add(new, 1)
            self.dirty.add(a.id)
            self.touched_ancestors[a.id] = None
        parent = ancestors[0] if ancestors else None
        if parent is not None:
            c = parent.children
            c.add(old, -1)
            c.add(new, 1)
            self.touched_parents[parent.id] = None
        if new in (JobStatus.FAILED, JobStatus.CANCELLED) and mode == "":
            self._cancel_below(job, new)
        if parent is None:
            return
        c = parent.children
        if new in ACTIVE and parent.status.terminal:
            self._set_status(
                parent,
                JobStatus.RUNNING,
                StatusChange(parent.id, JobStatus.RUNNING, reason="reopened: a child was retried"),
                mode="reopen",
            )
        elif parent.waiting and parent.status is JobStatus.RUNNING and c.active == 0:
            self._set_status(
                parent,
                overall_status(JobStatus.RUNNING, c),
                StatusChange(parent.id, JobStatus.COMPLETED, reason="all children finished"),
            )

    def _ancestors(self, job: Job) -> list[Job]:
        """The loaded ancestors of ``job``, parent first. An ancestor that is not loaded
        goes into ``missing`` (a deleted one is simply absent)."""
        out: list[Job] = []
        pid = job.parent_id
        while pid is not None:
            a = self.jobs.get(pid)
            if a is None:
                self.missing.add(pid)
                break
            out.append(a)
            pid = a.parent_id
        return out

    def _count_error(self, job: Job, old: JobStatus, new: JobStatus) -> None:
        """A failure with an error joins its group on every ancestor; a failed job that
        leaves ``failed`` (retry in place) leaves it."""
        if new is JobStatus.FAILED and job.error:
            job.error_group = error_key(job.error)
            self._error_delta(job, job.error_group, 1, job.id)
        elif old is JobStatus.FAILED and job.error_group is not None:
            self._error_delta(job, job.error_group, -1, job.id)
            job.error_group = None

    def _error_delta(self, job: Job, key: str, n: int, sample: int | None) -> None:
        for a in self._ancestors(job):
            d = self.error_deltas.setdefault((a.id, key), ErrorDelta())
            d.count += n
            if sample is not None and n > 0:
                d.add.append(sample)
                d.add = d.add[-SAMPLES:]
                d.last_seen = self.now
            elif sample is not None:
                d.remove.append(sample)

    def _children_index(self) -> dict[int, list[int]]:
        if self._kids is None:
            kids: dict[int, list[int]] = {}
            for j in sorted(self.jobs.values(), key=lambda j: j.id):
                if j.parent_id is not None:
                    kids.setdefault(j.parent_id, []).append(j.id)
            self._kids = kids
        return self._kids

    def _cancel_below(self, job: Job, cause: JobStatus) -> None:
        """The failure rule: a job that ended failed or cancelled takes its pending and
        running descendants with it (parents before children)."""
        if job.children.active == 0:
            return
        kids = [self.jobs[i] for i in self._children_index().get(job.id, ())]
        active = [k for k in kids if k.status in ACTIVE]
        if len(active) < job.children.active:
            raise StoreError(
                f"job {job.id} ended {cause.value} with {job.children.active} active children"
                f" but only {len(active)} were loaded (the store must load its active subtree)"
            )
        reason = "cancelled" if cause is JobStatus.CANCELLED else f"parent {job.id} failed"
        for kid in active:
            if kid.status in ACTIVE:
                self._set_status(
                    kid,
                    JobStatus.CANCELLED,
                    StatusChange(kid.id, JobStatus.CANCELLED, reason=reason),
                )

    # ------------------------------------------------------------------ creation
    def create(
        self,
        specs: Iterable[NewJob],
        first_id: int,
        default_max_attempts: int,
        max_children: int | None = None,
        limits: TreeLimits | None = None,
    ) -> list[Job]:
        """Plan the insertion of new jobs with ids from ``first_id``.

        Parents must be loaded; specs whose ``dedupe_key`` is already taken must have been
        filtered out by the caller (the store holds the unique key). With ``max_children``,
        a child that would make its parent's ``total`` exceed it is not created (counted
        in ``over_budget``): a budget the store enforces, whatever the number of workers.
        ``limits`` (default :class:`TreeLimits`) bound depth and children per parent:
        exceeding them raises InvalidJobSpec (nothing of the batch is created).
        """
        limits = limits or TreeLimits()
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
                if parent.depth + 1 > limits.max_depth:
                    raise InvalidJobSpec(
                        f"job {parent.id} is at depth {parent.depth}: a child would exceed"
                        f" [jobs] max_depth = {limits.max_depth}"
                    )
                if parent.children.total >= limits.max_children_per_job:
                    raise InvalidJobSpec(
                        f"job {parent.id} already has {parent.children.total} children:"
                        f" [jobs] max_children_per_job = {limits.max_children_per_job}"
                    )
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
                for a in self._ancestors(job):
                    a.descendants.total += 1
                    a.descendants.pending += 1
                    self.dirty.add(a.id)
                    self.touched_ancestors[a.id] = None
                self.touched_parents[parent.id] = None
                if self._kids is not None:
                    self._kids.setdefault(parent.id, []).append(job.id)
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
    def delete(self, job: Job, groups: dict[str, int] | None = None) -> None:
        """Plan the deletion of a (terminal) job's subtree rooted at ``job``: the
        ``job_deleted`` event and, for every ancestor, its counters (``children`` of the
        parent, ``descendants``) and error groups. ``groups`` are the deleted job's own
        error group counts (its failed descendants by key)."""
        if job.status in ACTIVE:
            raise JobStateError(f"job {job.id} is {job.status.value}: cancel it first")
        self.events.append(
            NewEvent(
                JOB_DELETED, job.id, job.root_id, {"job_id": job.id, "parent_id": job.parent_id}
            )
        )
        gone = Counters(**job.descendants.as_dict())
        gone.total += 1
        gone.add(job.status, 1)
        ancestors = self._ancestors(job)
        for a in ancestors:
            d = a.descendants
            for name, value in gone.as_dict().items():
                setattr(d, name, getattr(d, name) - value)
            self.dirty.add(a.id)
            self.touched_ancestors[a.id] = None
        lost = dict(groups or {})
        if job.status is JobStatus.FAILED and job.error_group is not None:
            lost[job.error_group] = lost.get(job.error_group, 0) + 1
        for key, n in lost.items():
            self._error_delta(job, key, -n, None)
        if job.status is JobStatus.FAILED and job.error_group is not None:
            for a in ancestors:
                self.error_deltas[(a.id, job.error_group)].remove.append(job.id)
        if ancestors:
            parent = ancestors[0]
            parent.children.total -= 1
            parent.children.add(job.status, -1)
            self.touched_parents[parent.id] = None

    # ------------------------------------------------------------------ finishing
    def finish(self) -> None:
        """Append the progress events (one per touched parent or ancestor) and the
        rate-limited progress log lines (parents whose own children changed)."""
        for parent_id in self.touched_ancestors:
            parent = self.jobs[parent_id]
            payload = progress_payload(
                parent.id, parent.status, parent.children, self.timestamp, parent.descendants
            )
            self.events.append(NewEvent(PARENT_JOB_PROGRESS, parent.id, parent.root_id, payload))
            if parent_id not in self.touched_parents:
                continue
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
