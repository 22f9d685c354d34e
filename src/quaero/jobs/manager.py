"""The manager: the only code that changes a job's status.

Each method is one store transaction whose rules come from :mod:`quaero.jobs.planner`:
the job row, the parent's counters, a log line and the events change together.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidJobSpec, JobNotFound, JobStateError
from ..store.base import ChildFilter, Store
from .models import ACTIVE, RETRYABLE, Job, JobStatus, NewJob, StatusChange
from .planner import ChangeResult
from .registry import Registry

__all__ = ["BulkResult", "Manager", "RetryChildren"]

#: which jobs of a subtree a retry takes
RetryChildren = Literal["failed", "failed_and_cancelled"]
RETRY_CHILDREN: dict[str, tuple[JobStatus, ...]] = {
    "failed": (JobStatus.FAILED,),
    "failed_and_cancelled": (JobStatus.FAILED, JobStatus.CANCELLED),
}
#: jobs per transaction of a bulk action (each commit holds SQLite's write lock briefly)
BULK_CHUNK = 2000
BulkAction = Literal["cancel", "retry", "delete"]


@dataclass(slots=True)
class BulkResult:
    """What a bulk action did: jobs changed, and matching jobs it refused (e.g. a
    completed job asked to retry) or found gone."""

    changed: int = 0
    refused: int = 0
    matched: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"changed": self.changed, "refused": self.refused, "matched": self.matched}


class Manager:
    """Creates jobs and changes their status through the store."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        #: called after each claim with (seconds the claim took, jobs claimed), for metrics
        self.on_claim: Callable[[float, list[Job]], None] | None = None

    async def create_job(
        self,
        job_type: str,
        config: dict[str, Any] | None = None,
        name: str = "",
        *,
        metadata: dict[str, Any] | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Validate and create a top-level job."""
        cfg = self.registry.validate(job_type, config if config is not None else {})
        spec = NewJob(
            job_type,
            cfg,
            name=name or job_type,
            metadata=metadata or {},
            max_attempts=max_attempts or self.registry.max_attempts(job_type),
        )
        return (await self.store.create_jobs([spec]))[0]

    async def create_jobs(self, specs: Sequence[NewJob]) -> list[Job]:
        """Create jobs in bulk (children bump their parents' counters in the same commit).
        Raises InvalidJobSpec, creating none, if a spec's type nobody can run."""
        specs = list(specs)
        for spec in specs:
            self.registry.check_type(spec.job_type)
        return await self.store.create_jobs(specs)

    async def update_job_status(
        self, job_id: int, status: JobStatus | str, *, error: str | None = None
    ) -> Job:
        """Change one job's status; raises InvalidTransition/JobNotFound, changing nothing."""
        result = (
            await self.store.apply_changes([StatusChange(job_id, JobStatus(status), error=error)])
        )[0]
        if result.error is not None:
            raise result.error
        job = await self.store.get_job(job_id)
        if job is None:  # deleted in between
            raise JobNotFound(job_id)
        return job

    async def apply(self, changes: Sequence[StatusChange]) -> list[ChangeResult]:
        return await self.store.apply_changes(changes)

    async def claim(
        self, owner: str, limit: int, lease_seconds: float, job_types: Collection[str]
    ) -> list[Job]:
        started = time.perf_counter()
        jobs = await self.store.claim_jobs(owner, limit, lease_seconds, job_types)
        if self.on_claim is not None:
            self.on_claim(time.perf_counter() - started, jobs)
        return jobs

    async def apply_and_claim(
        self,
        changes: Sequence[StatusChange],
        owner: str,
        limit: int,
        lease_seconds: float,
        job_types: Collection[str],
    ) -> tuple[list[ChangeResult], list[Job]]:
        """Apply a worker's outcomes and claim up to ``limit`` jobs (one transaction
        where the store can)."""
        started = time.perf_counter()
        results, jobs = await self.store.apply_and_claim(
            changes, owner, limit, lease_seconds, job_types
        )
        if jobs and self.on_claim is not None:
            self.on_claim(time.perf_counter() - started, jobs)
        return results, jobs

    async def cancel(self, job_id: int) -> int:
        """Cancel a job and its whole subtree; returns how many jobs changed."""
        return await self.store.cancel_subtree(job_id)

    async def delete(self, job_id: int, cancel: bool = False) -> int:
        if cancel:
            await self.store.cancel_subtree(job_id)
        return await self.store.delete_subtree(job_id)

    async def retry(self, job_id: int, children: RetryChildren | None = None) -> BulkResult:
        """Retry in place. Without ``children``: the job itself (failed or cancelled ->
        pending under the same id; JobStateError otherwise). With ``children="failed"``
        (or ``"failed_and_cancelled"``): every such job in its subtree, in chunks of one
        transaction each. Terminal ancestors reopen to running and wait for children."""
        if children is None:
            res = (await self.store.retry_jobs([job_id]))[0]
            if res.error is not None:
                raise res.error
            return BulkResult(changed=1, matched=1)
        if children not in RETRY_CHILDREN:
            raise InvalidJobSpec(
                f"children must be one of {', '.join(RETRY_CHILDREN)}, got {children!r}"
            )
        f = ChildFilter(statuses=RETRY_CHILDREN[children], subtree=True)
        return await self.bulk(job_id, "retry", f)

    async def bulk(self, job_id: int, action: BulkAction, f: ChildFilter) -> BulkResult:
        """Cancel, retry or delete the jobs below ``job_id`` that match ``f``, in chunks
        of :data:`BULK_CHUNK` jobs per transaction (counters exact at every commit).

        ``delete`` refuses (JobStateError, nothing deleted) when a matching job is pending
        or running. Raises JobNotFound for an unknown ``job_id``."""
        ops: dict[str, Callable[[Sequence[int]], Awaitable[list[ChangeResult]]]] = {
            "cancel": self.store.cancel_jobs,
            "retry": self.store.retry_jobs,
            "delete": self.store.delete_jobs,
        }
        if action not in ops:
            raise InvalidJobSpec(f"unknown bulk action {action!r}; use cancel, retry or delete")
        ids = await self.store.match_ids(job_id, f)
        out = BulkResult(matched=len(ids))
        if action == "delete" and ids:
            active = len(await self._match(job_id, _narrow(f, ACTIVE)))
            if active:
                raise JobStateError(
                    f"{active} of the {len(ids)} matching jobs are pending or running;"
                    " cancel them first (deleting running jobs is refused)"
                )
        if action != "delete":  # only these can change: the rest is refused up front
            can = ACTIVE if action == "cancel" else RETRYABLE
            ids = await self._match(job_id, _narrow(f, can))
            out.refused = out.matched - len(ids)
        for i in range(0, len(ids), BULK_CHUNK):
            for res in await ops[action](ids[i : i + BULK_CHUNK]):
                if res.ok:
                    out.changed += 1
                else:
                    out.refused += 1
        return out

    async def _match(self, job_id: int, f: ChildFilter | None) -> list[int]:
        return [] if f is None else await self.store.match_ids(job_id, f)

    async def rerun(self, job_id: int) -> Job:
        """A *copy*: a new top-level job with the same type, name and config (the old job
        stays as it is). To run a failed job again under its id, use :meth:`retry`."""
        old = await self.store.get_job(job_id)
        if old is None:
            raise JobNotFound(job_id)
        return await self.create_job(
            old.job_type, old.config, old.name, metadata={"rerun_of": old.id}
        )

    async def requeue_expired(self) -> list[int]:
        return await self.store.requeue_expired()


def _narrow(f: ChildFilter, allowed: Collection[JobStatus]) -> ChildFilter | None:
    """``f`` restricted to statuses in ``allowed`` (None: it can match nothing)."""
    statuses = [s for s in (f.statuses or allowed) if s in allowed]
    if not statuses:
        return None
    return ChildFilter(
        statuses=statuses,
        job_type=f.job_type,
        error_group=f.error_group,
        subtree=f.subtree,
    )
