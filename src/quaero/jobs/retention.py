"""Retention: remove finished top-level job trees once they are old enough.

:class:`Pruner` finds finished top-level jobs whose ``completed_at`` is older than the
setting for their final status (``[retention] completed/failed/cancelled``) and removes
their trees (jobs, logs, stats, skips; documents stay) in small store transactions
(:meth:`~quaero.store.base.Store.prune_step`). With ``children_only`` (``--children-only``
or ``[retention] children``) only the children go and the parent stays with its counters
as they were: an exact, durable summary. ``quaero serve`` and ``quaero worker`` run
:meth:`Pruner.run` in the background; ``quaero db prune`` runs :meth:`Pruner.run_once`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import RetentionSettings
from ..errors import JobNotFound, JobStateError
from ..shutdown import wait_event
from ..store.base import Store
from .models import Job, JobStatus

__all__ = ["PruneReport", "PrunedTree", "Pruner"]

log = logging.getLogger(__name__)

#: jobs deleted per store transaction (measured: a few ms of SQLite write lock)
CHUNK = 500
#: trees looked at per query
BATCH = 100
#: trees a dry run lists at most
DRY_RUN_LIMIT = 10_000


@dataclass(slots=True)
class PrunedTree:
    """One tree a prune removed (or, in a dry run, would remove)."""

    job_id: int
    name: str
    job_type: str
    status: str
    completed_at: float | None
    children_only: bool
    #: jobs removed (the top-level job included unless children_only); in a dry run the
    #: jobs that would be removed
    jobs: int = 0
    logs: int = 0
    #: not pruned (e.g. a job of the tree is still pending or running), with the reason
    skipped: str | None = None


@dataclass(slots=True)
class PruneReport:
    trees: list[PrunedTree] = field(default_factory=list)
    events: int = 0
    dry_run: bool = False

    @property
    def jobs(self) -> int:
        return sum(t.jobs for t in self.trees if t.skipped is None)


class Pruner:
    """Applies the retention settings to a store. Safe to run in several processes."""

    def __init__(
        self,
        store: Store,
        settings: RetentionSettings,
        *,
        event_retention_seconds: float | None = None,
        chunk: int = CHUNK,
    ) -> None:
        self.store = store
        self.settings = settings
        self.event_retention_seconds = event_retention_seconds
        self.chunk = chunk
        #: the longest single prune step, in seconds (for benchmarks and logs)
        self.longest_step = 0.0

    def cutoffs(self, now: float, older_than: float | None = None) -> dict[JobStatus, float]:
        """``{status: completed_at bound}`` for a whole-tree prune; ``older_than`` (seconds)
        overrides the settings for every status."""
        if older_than is not None:
            return {s: now - older_than for s in _FINISHED}
        out: dict[JobStatus, float] = {}
        for status in _FINISHED:
            age = self.settings.seconds(status.value)
            if age is not None:
                out[status] = now - age
        return out

    async def run_once(
        self,
        *,
        older_than: float | None = None,
        children_only: bool = False,
        dry_run: bool = False,
        on_tree: Callable[[PrunedTree], None] | None = None,
        now: float | None = None,
    ) -> PruneReport:
        """One pass: whole trees past the retention, then (``children_only`` or the
        ``children`` setting) the children of parents past that age. With ``older_than``
        only that pass runs, for every finished status. Returns what was (or would be)
        removed; ``on_tree`` is called as each tree is done."""
        now = time.time() if now is None else now
        report = PruneReport(dry_run=dry_run)
        passes: list[tuple[dict[JobStatus, float], bool]] = []
        if older_than is not None:
            passes.append((self.cutoffs(now, older_than), children_only))
        else:
            if not children_only:
                passes.append((self.cutoffs(now), False))
            age = self.settings.seconds("children")
            if age is not None:
                passes.append(({s: now - age for s in _FINISHED}, True))
        for before, only_children in passes:
            if not before:
                continue
            done: set[int] = set()
            batch = DRY_RUN_LIMIT if dry_run else BATCH
            while True:
                trees = [
                    j
                    for j in await self.store.prunable_trees(before, only_children, batch)
                    if j.id not in done
                ]
                if not trees:
                    break
                for job in trees:
                    done.add(job.id)
                    tree = await self._tree(job, only_children, dry_run)
                    report.trees.append(tree)
                    if on_tree is not None:
                        on_tree(tree)
                if dry_run:  # nothing changed: the same trees would come back
                    break
        if self.event_retention_seconds is not None and not dry_run:
            report.events = await self.store.prune_events(now - self.event_retention_seconds)
        return report

    async def _tree(self, job: Job, children_only: bool, dry_run: bool) -> PrunedTree:
        tree = PrunedTree(
            job.id,
            job.name,
            job.job_type,
            job.status.value,
            job.completed_at,
            children_only,
        )
        if await self.store.tree_active(job.id):
            tree.skipped = "a job of its tree is still pending or running"
            return tree
        if dry_run:
            size = await self.store.tree_size(job.id)
            tree.jobs = size - 1 if children_only else size
            return tree
        try:
            while True:
                t0 = time.perf_counter()
                step = await self.store.prune_step(job.id, children_only, self.chunk)
                self.longest_step = max(self.longest_step, time.perf_counter() - t0)
                tree.jobs += step.jobs
                tree.logs += step.logs
                if step.done:
                    return tree
        except JobNotFound:  # another process removed it first
            return tree
        except JobStateError as exc:
            tree.skipped = str(exc)
            return tree

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Prune every ``[retention] interval`` until cancelled (or ``stop`` is set); also
        gives free pages back to the file system after a pass that removed jobs."""
        interval = self.settings.seconds("interval") or 60.0
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.jobs:
                    log.info(
                        "retention: pruned %d job(s) in %d tree(s)",
                        report.jobs,
                        sum(1 for t in report.trees if t.skipped is None),
                    )
                    await self.store.vacuum()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention: pruning failed")
            await wait_event(stop, interval)


_FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
