"""The App: job types, the store, the event bus, the manager and workers, in one place."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .config import Settings, load_settings, parse_prefetch
from .errors import JobNotFound, StoreError
from .events.bus import EventBus
from .events.types import JOB_STATUS_CHANGE, Event
from .jobs.builtin import builtin_types
from .jobs.explain import explain
from .jobs.manager import BulkResult, Manager, RetryChildren
from .jobs.models import Job
from .jobs.planner import TreeLimits
from .jobs.registry import Handler, JobType, Registry, Validator
from .jobs.worker import Worker
from .jobs.worker_registry import WorkerInfo
from .shutdown import cancel_and_wait, wait_event
from .store.base import Store, open_store

__all__ = ["App"]

log = logging.getLogger(__name__)


class App:
    """A quaero application.

    >>> app = App(db="sqlite:///./data/quaero.db")
    >>> @app.job("resize")
    ... async def resize(ctx):
    ...     ctx.log(f"resizing {ctx.config['path']}")
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db: str | None = None,
        builtins: bool = True,
    ) -> None:
        self.settings = settings or load_settings()
        if db is not None:
            self.settings.store.url = db
        jobs = self.settings.jobs
        self.registry = Registry(
            jobs.external_types, allow_unregistered=jobs.allow_unregistered_types
        )
        if builtins:
            for jt in builtin_types(self.registry):
                self.registry.register(jt)
        self.bus = EventBus(poll_interval=self.settings.events.poll_interval)
        self._store: Store | None = None
        self._manager: Manager | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        #: per-app state of extensions (e.g. the crawler's connection pools)
        self.state: dict[str, Any] = {}
        self._on_close: list[Callable[[], Awaitable[None]]] = []
        #: workers of this app that started and did not finish stopping (close stops them)
        self._workers: set[Worker] = set()

    # ------------------------------------------------------------------ job types
    def job(
        self,
        name: str,
        *,
        validate: Validator | None = None,
        max_attempts: int | None = None,
        description: str = "",
    ) -> Callable[[Handler], Handler]:
        """Register an async handler ``async def handler(ctx: JobContext)`` under ``name``."""

        def decorator(fn: Handler) -> Handler:
            self.registry.register(
                JobType(name, fn, validate, max_attempts, description or (fn.__doc__ or "").strip())
            )
            return fn

        return decorator

    def register(self, job_type: JobType) -> None:
        self.registry.register(job_type)

    # ------------------------------------------------------------------ lifecycle
    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreError("the app is not open (use 'async with app' or 'await app.open()')")
        return self._store

    @property
    def manager(self) -> Manager:
        if self._manager is None:
            raise StoreError("the app is not open")
        return self._manager

    async def open(self) -> App:
        jobs = self.settings.jobs
        store = open_store(
            self.settings.store.url,
            on_wake=self.bus.poll,
            default_max_attempts=self.settings.worker.max_attempts,
            tree_limits=TreeLimits(jobs.max_depth, jobs.max_children_per_job),
        )
        if store.dialect == "sqlite":
            # the local fast path: a commit's events go straight to the bus. PostgreSQL
            # wakes every process's bus with NOTIFY, this one's included, and the bus reads
            # the log then; handing it the events too would cost a read per transaction
            store.on_commit = self.bus.feed
        await store.open()
        self._store = store
        self._manager = Manager(store, self.registry)
        await self.bus.start(store, local_fast_path=store.dialect == "sqlite")
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())
        return self

    def on_close(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` when the app closes (before the store closes)."""
        self._on_close.append(callback)

    def hurry(self) -> None:
        """Have this app's workers, stopping or about to stop, release their running jobs
        at once instead of waiting up to ``shutdown_timeout`` (:meth:`Worker.hurry`;
        ``quaero serve`` calls it on a second SIGINT/SIGTERM). Safe in a signal handler
        of the loop's thread."""
        for w in list(self._workers):
            w.hurry()

    async def close(self) -> None:
        """Stop this app's running workers (as :meth:`Worker.stop`: their jobs finish or
        go back to pending), then close what the app opened, the store last. Every step
        is bounded."""
        # before anything they use closes: left running, a worker's loops and jobs would
        # go on against a closed store, their outcomes lost and their leases left to expire
        for w in list(self._workers):
            await w.stop()
        callbacks, self._on_close = self._on_close, []
        for cb in reversed(callbacks):
            try:
                await cb()
            except Exception:
                log.exception("close callback failed")
        self.state.clear()
        await self.stop_pruner()
        if self._maintenance is not None:
            await cancel_and_wait(self._maintenance, what="maintenance task")
            self._maintenance = None
        await self.bus.stop()
        if self._store is not None:
            await self._store.close()
            self._store = None
            self._manager = None

    async def __aenter__(self) -> App:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start_pruner(self) -> None:
        """Apply ``[retention]`` in the background (``quaero serve`` and ``quaero worker``
        do) until :meth:`stop_pruner` or the app closes. Several processes may prune the
        same store at once."""
        from .jobs.retention import Pruner

        if self._pruner is None:
            pruner = Pruner(self.store, self.settings.retention)
            self._pruner = asyncio.get_running_loop().create_task(pruner.run())

    async def stop_pruner(self) -> None:
        """Stop :meth:`start_pruner`'s task: bounded (a prune in flight on PostgreSQL
        ends only once its cancel reached the server), and a cancel of the caller always
        propagates."""
        if self._pruner is not None:
            pruner, self._pruner = self._pruner, None
            await cancel_and_wait(pruner, what="pruner")

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(60)
            try:
                cutoff = time.time() - self.settings.events.retention_hours * 3600
                n = await self.store.prune_events(cutoff)
                if n:
                    log.info("pruned %d events older than the retention", n)
            except Exception:
                log.exception("event pruning failed")

    # ------------------------------------------------------------------ work
    def worker(self, **overrides: Any) -> Worker:
        """A worker pool configured from ``settings.worker`` (keyword overrides win)."""
        w = self.settings.worker
        kwargs: dict[str, Any] = {
            "concurrency": w.concurrency,
            "lease_seconds": w.lease_seconds,
            "poll_interval": w.poll_interval,
            "backoff_base": w.backoff_base,
            "backoff_max": w.backoff_max,
            "shutdown_timeout": w.shutdown_timeout,
            "prefetch": parse_prefetch(w.prefetch),
        }
        kwargs.update(overrides)
        return Worker(self, **kwargs)

    async def submit(
        self, job_type: str, config: dict[str, Any] | None = None, name: str = ""
    ) -> Job:
        """Validate and create a top-level job; a worker will run it."""
        return await self.manager.create_job(job_type, config, name)

    async def explain(self, job_id: int) -> dict[str, Any]:
        """Why job ``job_id`` is not done: ``{"summary": [sentences], "reasons": [{"kind",
        "message", ...}], "handler", "children", "workers", ...}`` (docs/api.md), built
        from the store's indexed reads and the worker registry. Raises JobNotFound."""
        job = await self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(job_id)
        now = time.time()
        facts = await self.store.child_facts(job_id, now) if job.children.active else None
        workers = await self.store.list_workers()
        return explain(job, facts, workers, now, external_types=self.registry.external)

    async def workers(self, include_expired: bool = False) -> list[WorkerInfo]:
        """The registered worker processes (live ones; with ``include_expired`` also
        those that stopped heartbeating and are not yet forgotten)."""
        now = time.time()
        rows = await self.store.list_workers()
        return [w for w in rows if include_expired or w.live(now)]

    async def retry(self, job_id: int, children: RetryChildren | None = None) -> BulkResult:
        """Retry in place: the job itself (``children=None``), or every failed
        (``"failed"``) or failed and cancelled (``"failed_and_cancelled"``) job in its
        subtree. Same ids, attempts reset; terminal ancestors reopen and wait for their
        children. Returns how many jobs changed (``BulkResult.changed``). Raises
        JobNotFound, or JobStateError when the job itself is not failed or cancelled."""
        return await self.manager.retry(job_id, children)

    async def wait(self, job_id: int, timeout: float | None = None) -> Job:
        """Wait until the job is terminal and return it."""
        done = asyncio.Event()

        def on_change(e: Event) -> None:
            if e.job_id == job_id and e.payload.get("status") in (
                "completed",
                "failed",
                "cancelled",
            ):
                done.set()

        sub = self.bus.subscribe(
            on_change, types=(JOB_STATUS_CHANGE,), where=lambda e: e.job_id == job_id
        )
        try:
            async with asyncio.timeout(timeout):
                while True:
                    job = await self.store.get_job(job_id)
                    if job is None:
                        raise JobNotFound(job_id)
                    if job.is_terminal:
                        return job
                    await wait_event(done, 1.0)
        finally:
            await sub.close()
