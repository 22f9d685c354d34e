"""The manager: the only code that changes a job's status.

Each method is one store transaction whose rules come from :mod:`quaero.jobs.planner`:
the job row, the parent's counters, a log line and the events change together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..errors import JobNotFound
from ..store.base import Store
from .models import Job, JobStatus, NewJob, StatusChange
from .planner import ChangeResult
from .registry import Registry

__all__ = ["Manager"]


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

    async def cancel(self, job_id: int) -> int:
        """Cancel a job and its whole subtree; returns how many jobs changed."""
        return await self.store.cancel_subtree(job_id)

    async def delete(self, job_id: int, cancel: bool = False) -> int:
        if cancel:
            await self.store.cancel_subtree(job_id)
        return await self.store.delete_subtree(job_id)

    async def rerun(self, job_id: int) -> Job:
        """A new top-level job with the same type, name and config."""
        old = await self.store.get_job(job_id)
        if old is None:
            raise JobNotFound(job_id)
        return await self.create_job(
            old.job_type, old.config, old.name, metadata={"rerun_of": old.id}
        )

    async def requeue_expired(self) -> list[int]:
        return await self.store.requeue_expired()
