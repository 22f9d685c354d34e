"""What a handler sees of its job: config, logging, progress, children, cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import InvalidJobSpec, JobCancelled, JobStateError, PermanentJobError
from ..store.base import LogEntry
from .models import Job, NewJob, SpawnResult

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ["JobContext"]


class JobContext:
    """Passed to every handler. Log lines are buffered and committed in batches."""

    def __init__(self, job: Job, worker: Worker) -> None:
        self.job = job
        self.worker = worker
        self.app = worker.app
        self._cancelled = asyncio.Event()

    @property
    def id(self) -> int:
        return self.job.id

    @property
    def config(self) -> dict[str, Any]:
        return self.job.config

    @property
    def attempt(self) -> int:
        return self.job.attempts

    def log(self, message: str, level: str = "info") -> None:
        """Append a line to this job's log (committed with the worker's next flush)."""
        self.worker.buffer_log(LogEntry(self.job.id, level, message, time.time()))

    async def spawn(
        self,
        children: Iterable[NewJob],
        parent_id: int | None = None,
        max_children: int | None = None,
    ) -> SpawnResult:
        """Create child jobs in bulk (under this job, or under ``parent_id``, e.g. the root).

        Children with a ``dedupe_key`` already used under that parent are skipped, and none
        is created beyond ``max_children`` children of the parent (enforced by the store).
        Raises :class:`JobCancelled` if the parent was cancelled or finished, and
        :class:`~quaero.errors.InvalidJobSpec` (creating none) if a child's job type is
        one nobody can run (not registered, not in ``[jobs] external_types``).
        """
        target = parent_id if parent_id is not None else self.job.id
        registry = self.app.registry
        specs = []
        checked: set[str] = set()
        for spec in children:
            if spec.job_type not in checked:
                registry.check_type(spec.job_type)
                checked.add(spec.job_type)
            spec.parent_id = target
            specs.append(spec)
        if not specs:
            return SpawnResult()
        try:
            return await self.app.store.spawn_children(specs, max_children)
        except JobStateError as exc:
            raise JobCancelled(str(exc)) from exc
        except InvalidJobSpec as exc:  # e.g. [jobs] max_depth: retrying cannot fix it
            raise PermanentJobError(str(exc)) from exc

    async def progress(self, current: int, total: int | None = None, message: str = "") -> None:
        """Report this job's own progress (shown on its page, sent as ``job_progress``)."""
        await self.app.store.set_progress(
            self.job.id, {"current": current, "total": total, "message": message}
        )

    async def add_stats(self, deltas: dict[str, int], job_id: int | None = None) -> None:
        """Add to named counters of this job (or of ``job_id``, e.g. the root)."""
        await self.app.store.add_job_stats(job_id if job_id is not None else self.job.id, deltas)

    async def add_results(self, n: int = 1, job_id: int | None = None) -> None:
        """Count results (e.g. documents) on this job or another (e.g. the crawl root)."""
        await self.app.store.add_result_count(job_id if job_id is not None else self.job.id, n)

    # ------------------------------------------------------------------ cancellation
    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if the job was cancelled (cooperative interruption)."""
        if self._cancelled.is_set():
            raise JobCancelled(f"job {self.job.id} was cancelled")

    async def wait_cancelled(self) -> None:
        await self._cancelled.wait()

    def _cancel(self) -> None:
        self._cancelled.set()
