"""A worker's hot path on SQLite: status changes and claims as joinable writer operations.

A worker's flush (its handlers' outcomes, and a claim for the slots they freed) and the
claim loop's claim are often queued to the writer thread together. Run one by one, each
would load the same parent row, plan, write that row and publish a progress event for it.
:class:`WorkerStep` lets the writer run such neighbours as ONE plan: one load and one write
of their parent, one progress event, still one result per operation. The planner applies
every rule exactly as for a single operation (changes first, then the claims).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..jobs.models import Job, JobStatus, StatusChange
from ..jobs.planner import ChangeResult, Planner
from . import sqlite_sql as q
from .sqlite_base import _row_to_job
from .sqlite_plans import JobRows, add
from .sqlite_writer import Batchable, TxContext

if TYPE_CHECKING:
    from .sqlite import SqliteStore

__all__ = ["WorkerStep"]

#: status changes after which the failure rule may cancel a subtree
ENDS = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(eq=False)
class WorkerStep(Batchable):
    """``changes`` applied, then up to ``limit`` due pending jobs of ``types`` claimed for
    ``owner``. The result is the change results (``shape == "apply"``), the claimed jobs
    (``"claim"``) or both as a pair (``"both"``)."""

    store: SqliteStore
    shape: str
    changes: list[StatusChange] = field(default_factory=list)
    owner: str = ""
    limit: int = 0
    lease_seconds: float = 0.0
    types: tuple[str, ...] = ()

    def joins(self, other: object) -> bool:
        return isinstance(other, WorkerStep) and other.store is self.store

    @classmethod
    def run_batch(cls, ctx: TxContext, items: list[Any]) -> list[Any]:
        steps: list[WorkerStep] = items
        store = steps[0].store
        jobs = JobRows()
        changes = [c for s in steps for c in s.changes]
        if changes:
            store._load(ctx, [c.job_id for c in changes], jobs)
            store._load_active_below(ctx, [c.job_id for c in changes if c.status in ENDS], jobs)
        taken: set[int] = set()
        picked = [_candidates(ctx, s, jobs, taken) for s in steps]
        if not changes and not any(picked):
            return [s._value([], []) for s in steps]
        store._load_ancestors(ctx, jobs)
        plan = Planner(jobs, now=ctx.now)
        results = [[plan.change(c) for c in s.changes] for s in steps]
        claimed: list[list[Job]] = []
        for s, candidates in zip(steps, picked, strict=True):
            mine = []
            for job in candidates:
                # not cancelled or rescheduled by a change above (the failure rule)
                if job.status is JobStatus.PENDING and job.available_at <= ctx.now:
                    plan.claim(job, s.owner, s.lease_seconds)
                    mine.append(job)
            claimed.append(mine)
        plan.finish()
        store._write_plan(ctx, plan)
        return [s._value(r, c) for s, r, c in zip(steps, results, claimed, strict=True)]

    def _value(self, results: list[ChangeResult], claimed: list[Job]) -> Any:
        if self.shape == "apply":
            return results
        if self.shape == "claim":
            return claimed
        return results, claimed


def _candidates(ctx: TxContext, step: WorkerStep, jobs: JobRows, taken: set[int]) -> list[Job]:
    """Up to ``step.limit`` due pending jobs not ``taken`` by an earlier step of the batch
    (added to ``taken`` and to ``jobs``, decoded in full: the worker runs them)."""
    if step.limit <= 0 or not step.types:
        return []
    want = step.limit + len(taken)
    params: list[Any] = []
    for t in step.types:
        params += (t, ctx.now, want)
    params.append(want)
    out: list[Job] = []
    for r in ctx.conn.execute(q.claim_candidates(len(step.types)), params):
        if r[0] in taken:
            continue
        job = jobs.get(r[0])
        if job is None:
            job = add(jobs, r)
        else:  # loaded for a change above, without its config: the worker needs it
            fresh = _row_to_job(r)
            job.config, job.metadata = fresh.config, fresh.metadata
            job.result, job.progress = fresh.result, fresh.progress
        out.append(job)
        taken.add(job.id)
        if len(out) == step.limit:
            break
    return out
