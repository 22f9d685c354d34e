"""The worker pool: claims due jobs with leases, runs their handlers, commits outcomes.

- Claims are batched: one transaction moves up to the free slots' worth of jobs to running.
- Outcomes (completions, retries, failures) and handler log lines are buffered and
  committed together by one flusher task, so a busy pool makes few, large transactions.
- Leases are extended by a heartbeat; a job whose lease another worker or a cancel took
  away is interrupted. Any worker requeues jobs whose lease expired (their worker died).
- Idle workers wait on a wake-up (new work committed, a slot freed) or a bounded poll.
- Cancellation is cooperative: the handler's context is flagged and its task cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import JobCancelled, PermanentJobError, RetryJob
from ..events.types import JOB_CREATED, JOB_SPAWN, JOB_STATUS_CHANGE, Event
from ..failures import FailureStreak
from ..shutdown import CLOSE_TIMEOUT, bounded, cancel_and_wait, wait_event
from ..store.base import LogEntry
from .context import JobContext
from .models import Job, JobStatus, StatusChange
from .worker_registry import WorkerInfo

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Worker"]

log = logging.getLogger(__name__)

#: "auto" prefetch claims ahead only while handlers take less than this on average (s)
AUTO_PREFETCH_BELOW = 0.05
#: "auto" claims ahead at most this many times ``concurrency``
AUTO_PREFETCH_MAX_FACTOR = 8

#: status changes a worker reacts to: new due work (retries, requeues) and cancels
_WAKE_STATUSES = frozenset({JobStatus.PENDING.value, JobStatus.CANCELLED.value})


class Worker:
    """A pool of ``concurrency`` async slots in this process."""

    def __init__(
        self,
        app: App,
        *,
        concurrency: int = 16,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        shutdown_timeout: float = 10.0,
        job_types: list[str] | None = None,
        worker_id: str | None = None,
        prefetch: int | None = 0,
    ) -> None:
        self.app = app
        self.concurrency = concurrency
        #: jobs claimed ahead of free slots (leased to this worker, started as soon as a
        #: slot frees): a slot then never waits for a claim's round trip. None is "auto":
        #: up to ``concurrency`` while jobs run shorter than :data:`AUTO_PREFETCH_BELOW`
        self.prefetch = prefetch
        #: moving average of handler run times (seconds) and how many it has seen, for
        #: the "auto" prefetch
        self.run_seconds: float | None = None
        #: moving average of a flush transaction's wall time (seconds)
        self.flush_seconds: float | None = None
        self.runs = 0
        #: when each running handler started (``time.monotonic()``)
        self._started: dict[int, float] = {}
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.shutdown_timeout = shutdown_timeout
        self.job_types = job_types
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._active: dict[int, tuple[asyncio.Task[None], JobContext]] = {}
        #: claimed ahead (``prefetch``), in claim order; leased to this worker
        self._ready: dict[int, Job] = {}
        #: when the flushes began to fail (``time.monotonic()``), None while they succeed
        self._flush_failing_since: float | None = None
        self._wake = asyncio.Event()
        self._flush = asyncio.Event()
        #: one flush at a time: stop() waits for the flush loop's commit in flight
        #: instead of cancelling it (which lost the last outcomes)
        self._flush_lock = asyncio.Lock()
        self._changes: list[StatusChange] = []
        #: slots a claim in flight may fill (the claim loop's or the flush's)
        self._claiming = 0
        self._logs: list[LogEntry] = []
        self._stopping = False
        self._stop_task: asyncio.Future[None] | None = None
        #: set by :meth:`hurry`: the stop releases running jobs without waiting more
        self._hurry = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subs: list[Any] = []
        #: jobs finished by this worker (completed, failed or retried)
        self.processed = 0
        self.started_at = time.time()
        # a store that is down fails every loop's tries: one record per streak, not per try
        self._claim_failures = FailureStreak(log, "claim")
        self._flush_failures = FailureStreak(log, "flush")
        self._registry_failures = FailureStreak(log, f"update of worker {self.id} in the registry")
        self._heartbeat_failures = FailureStreak(log, "heartbeat")
        self._reaper_failures = FailureStreak(log, "requeue of expired leases")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.started_at = time.time()
        await self._register()  # registered before it claims anything
        self.app._workers.add(self)  # the app's close stops it
        bus = self.app.bus
        self._subs.append(bus.subscribe(self._on_new_work, types=(JOB_CREATED, JOB_SPAWN)))
        self._subs.append(
            bus.subscribe(
                self._on_status_change,
                types=(JOB_STATUS_CHANGE,),
                where=lambda e: e.payload.get("status") in _WAKE_STATUSES,
            )
        )
        for coro, name in (
            (self._claim_loop(), "claim"),
            (self._flush_loop(), "flush"),
            (self._heartbeat_loop(), "heartbeat"),
            (self._reaper_loop(), "reaper"),
        ):
            self._tasks.append(loop.create_task(coro, name=f"quaero-worker-{name}"))
        log.info("worker %s started (concurrency %d)", self.id, self.concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully."""
        await self.start()
        await stop.wait()
        await self.stop()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; let running jobs finish, or release them after ``timeout``.
        Every call returns once the worker has stopped: a second one (``App.close``
        while a signal handler stops it) waits for the first, whose ``timeout`` holds."""
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._stop(timeout))
        # shielded: a cancel of one caller does not cut the stop short for the others
        await asyncio.shield(self._stop_task)

    def hurry(self) -> None:
        """Cut a stop's grace short: the jobs still running are released back to pending
        now (their handlers cancelled), as when the shutdown timeout runs out. A second
        SIGINT/SIGTERM to ``quaero worker`` calls it (celery's "cold" shutdown after a
        "warm" one). Before a stop it only makes the coming stop release at once."""
        self._hurry.set()

    async def _stop(self, timeout: float | None) -> None:
        try:
            await self._shut_down(timeout)
        finally:  # until here, App.hurry reaches it
            self.app._workers.discard(self)

    async def _shut_down(self, timeout: float | None) -> None:
        self._stopping = True
        self._wake.set()
        timeout = self.shutdown_timeout if timeout is None else timeout
        if self._ready:  # claimed ahead, never started: straight back to pending
            self._changes.extend(
                StatusChange(i, JobStatus.PENDING, expect_owner=self.id, release=True)
                for i in self._ready
            )
            self._ready.clear()
        if self._active:
            pending: set[asyncio.Future[Any]] = {t for t, _ in self._active.values()}
            deadline = time.monotonic() + timeout
            hurry = asyncio.ensure_future(self._hurry.wait())
            try:
                while pending and not self._hurry.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    _, pending = await asyncio.wait(
                        {*pending, hurry}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                    pending.discard(hurry)
            finally:
                hurry.cancel()
            releases = []
            for job_id, (task, _ctx) in list(self._active.items()):
                if task in pending:
                    releases.append(
                        StatusChange(
                            job_id,
                            JobStatus.PENDING,
                            expect_owner=self.id,
                            release=True,
                            reason="worker shut down",
                        )
                    )
                    task.cancel()
            if pending:  # a handler that ignores cancellation must not hang the stop
                _, stuck = await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)
                if stuck:
                    log.warning("%d job handler(s) ignored cancellation", len(stuck))
            self._changes.extend(releases)

        # a claim in flight may already be committed: let the claim loop see its reply
        # and give the jobs back in the last flush (cancelled, they would stay leased to
        # a worker that is gone until the lease ran out)
        claim_loop = [t for t in self._tasks if t.get_name() == "quaero-worker-claim"]
        if claim_loop:
            await asyncio.wait(claim_loop, timeout=CLOSE_TIMEOUT)

        async def last_flush() -> None:
            async with self._flush_lock:
                await self._flush_now()

        # a store that cannot take the last changes leaves leases to expire: consistent
        await bounded(last_flush(), 2 * CLOSE_TIMEOUT, "the worker's last flush")
        await cancel_and_wait(self._tasks, what="worker loop")
        self._tasks.clear()
        for sub in self._subs:
            await sub.close()
        self._subs.clear()
        # bounded, and a failure is only logged: the registry row expires on its own
        await bounded(
            self.app.store.unregister_worker(self.id), CLOSE_TIMEOUT, "leaving the worker registry"
        )
        log.info("worker %s stopped", self.id)

    # ------------------------------------------------------------------ events
    def _on_new_work(self, _e: Event) -> None:
        self._wake.set()

    def _on_status_change(self, e: Event) -> None:
        status = e.payload.get("status")
        if status == JobStatus.PENDING.value:
            self._wake.set()
        elif status == JobStatus.CANCELLED.value and (
            e.job_id in self._active or e.job_id in self._ready
        ):
            self._interrupt(e.job_id)

    def _interrupt(self, job_id: int) -> None:
        if self._ready.pop(job_id, None) is not None:
            return  # never started: its status was already changed by whoever took it
        entry = self._active.get(job_id)
        if entry is None:
            return
        task, ctx = entry
        ctx._cancel()
        task.cancel()

    # ------------------------------------------------------------------ loops
    def _types(self) -> list[str]:
        return self.job_types or self.app.registry.names()

    def _flush_claims(self) -> bool:
        """Whether the flush in flight or due will claim for the free slots itself (one
        transaction, no claim of its own racing it for the same parent rows)."""
        if not self.app.store.claims_with_changes:
            return False
        return self._flush_lock.locked() or bool(self._changes)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            free = self._free()
            self._wake.clear()
            if free > 0 and not self._flush_claims():
                self._claiming += free
                try:
                    jobs = await self.app.manager.claim(
                        self.id, free, self.lease_seconds, self._types()
                    )
                except Exception as exc:
                    self._claim_failures.failed(exc)
                    jobs = []
                    await asyncio.sleep(self.poll_interval)
                else:
                    self._claim_failures.ok()
                finally:
                    self._claiming -= free
                if not self._take(jobs):
                    return
                if len(jobs) == free:
                    continue
            await wait_event(self._wake, self.poll_interval)

    def _ahead(self) -> int:
        """How many jobs to hold claimed ahead of free slots now. "auto": none until at
        least ``concurrency`` jobs ran, on average shorter than :data:`AUTO_PREFETCH_BELOW`,
        and none while a running job has been running longer (a switch to long jobs stops
        claiming ahead at once); then enough for every slot to stay busy through one
        flush (``concurrency`` x flush time / run time), from 1 to
        :data:`AUTO_PREFETCH_MAX_FACTOR` times ``concurrency``."""
        if self.prefetch is not None:
            return self.prefetch
        avg = self.run_seconds
        if self.runs < self.concurrency or avg is None or avg >= AUTO_PREFETCH_BELOW:
            return 0
        oldest = min(self._started.values(), default=None)
        if oldest is not None and time.monotonic() - oldest >= AUTO_PREFETCH_BELOW:
            return 0
        # enough to keep every slot busy through one flush's round trips: a slot runs
        # about flush/run jobs while a flush is in flight
        per_flush = (self.flush_seconds or 0.0) / max(avg, 1e-4)
        return self.concurrency * max(1, min(AUTO_PREFETCH_MAX_FACTOR, math.ceil(per_flush)))

    def _free(self) -> int:
        """How many jobs a claim may take now: free slots plus room to claim ahead."""
        room = self.concurrency + self._ahead() - len(self._active) - len(self._ready)
        return room - self._claiming

    def _take(self, jobs: list[Job]) -> bool:
        """Run claimed jobs; when shutting down, give them straight back (False)."""
        if self._stopping:
            self._changes.extend(
                StatusChange(j.id, JobStatus.PENDING, expect_owner=self.id, release=True)
                for j in jobs
            )
            if jobs:
                self._flush.set()
            return False
        for job in jobs:
            if len(self._active) < self.concurrency:
                self._launch(job)
            else:
                self._ready[job.id] = job
        return True

    def _launch(self, job: Job) -> None:
        ctx = JobContext(job, self)
        task = asyncio.get_running_loop().create_task(
            self._execute(ctx), name=f"quaero-job-{job.id}"
        )
        self._active[job.id] = (task, ctx)

    async def _execute(self, ctx: JobContext) -> None:
        job = ctx.job
        change: StatusChange | None
        started = self._started[job.id] = time.monotonic()
        try:
            handler = self.app.registry.get(job.job_type).handler
            result = await handler(ctx)
        except JobCancelled:
            change = None  # the cancel already changed the status
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            # ours (a cancel, a lost lease, a shutdown release): the status changed
            # already. Not aimed at this job (the handler awaited something another task
            # cancelled): a failure like any other, not a job left running until its
            # lease runs out
            ours = task is not None and task.cancelling() > 0
            change = None if ours else self._failure(job, exc)
        except Exception as exc:  # the handler failed: retry or fail
            change = self._failure(job, exc)
        else:
            change = StatusChange(
                job.id, JobStatus.COMPLETED, result=result, expect_owner=self.id, handler_done=True
            )
        finally:
            took = time.monotonic() - started
            avg = self.run_seconds
            self.run_seconds = took if avg is None else 0.9 * avg + 0.1 * took
            self.runs += 1
            self._started.pop(job.id, None)
            self._active.pop(job.id, None)
            if self._ready and not self._stopping:
                self._launch(self._ready.pop(next(iter(self._ready))))
            self._wake.set()
        if change is not None:
            self._changes.append(change)
            self._flush.set()

    def _failure(self, job: Job, exc: BaseException) -> StatusChange:
        if isinstance(exc, RetryJob | PermanentJobError):
            error = str(exc)
        else:
            error = f"{type(exc).__name__}: {exc}"
        if job.attempts < job.max_attempts and not isinstance(exc, PermanentJobError):
            if isinstance(exc, RetryJob) and exc.delay is not None:
                delay = exc.delay
            else:
                delay = min(self.backoff_max, self.backoff_base * 2 ** (job.attempts - 1))
                delay *= random.uniform(0.5, 1.5)
            self.buffer_log(
                LogEntry(
                    job.id,
                    "warning",
                    f"Attempt {job.attempts} failed: {error}; retry in {delay:.1f}s",
                    time.time(),
                )
            )
            return StatusChange(
                job.id,
                JobStatus.PENDING,
                error=error,
                expect_owner=self.id,
                available_at=time.time() + delay,
                reason=f"retry {job.attempts + 1}/{job.max_attempts}",
            )
        self.buffer_log(
            LogEntry(job.id, "error", f"Attempt {job.attempts} failed: {error}", time.time())
        )
        return StatusChange(job.id, JobStatus.FAILED, error=error, expect_owner=self.id)

    def buffer_log(self, entry: LogEntry) -> None:
        self._logs.append(entry)
        self._flush.set()

    def _keep_for_retry(self, logs: list[LogEntry], changes: list[StatusChange]) -> bool:
        """A flush failed (the database unreachable, say): put its lines and outcomes back
        ahead of newer ones, for the next try, as long as the jobs' leases may still be
        held (after that the outcomes would be refused anyway, and a flush that keeps
        failing must not stop the worker for good). Returns whether they were kept."""
        now = time.monotonic()
        if self._flush_failing_since is None:
            self._flush_failing_since = now
        if now - self._flush_failing_since >= self.lease_seconds:
            return False
        self._logs[:0] = logs
        self._changes[:0] = changes
        return True

    async def _flush_now(self) -> None:
        logs, self._logs = self._logs, []
        changes, self._changes = self._changes, []
        if logs:
            try:
                await self.app.store.add_logs(logs)
            except Exception:
                if self._keep_for_retry(logs, changes):
                    raise
                log.exception("could not write %d log lines", len(logs))
        if changes:
            # a failed parent's active subtree is cancelled in the same transaction (the
            # planner's failure rule), so there is nothing left to do here; the same
            # transaction refills the free slots (one commit, not a flush and a claim)
            claims = self.app.store.claims_with_changes and not self._stopping
            free = max(0, self._free()) if claims else 0
            self._claiming += free
            began = time.monotonic()
            try:
                results, jobs = await self.app.manager.apply_and_claim(
                    changes, self.id, free, self.lease_seconds, self._types()
                )
                took = time.monotonic() - began
                avg = self.flush_seconds
                self.flush_seconds = took if avg is None else 0.9 * avg + 0.1 * took
            except Exception:
                if not self._keep_for_retry([], changes):
                    log.error("dropped the outcomes of jobs %s", [c.job_id for c in changes])
                raise
            finally:
                self._claiming -= free
            self._take(jobs)
            if self._free() > 0:  # slots freed meanwhile: the claim loop takes over
                self._wake.set()
            for ch, res in zip(changes, results, strict=True):
                if res.ok:
                    if ch.status is not JobStatus.PENDING or not ch.release:
                        self.processed += 1
                else:
                    log.debug("change of job %d refused: %s", ch.job_id, res.error)
        self._flush_failing_since = None

    async def _flush_loop(self) -> None:
        while True:
            await self._flush.wait()
            # one loop turn first: jobs launched by the last flush that finish at once
            # join this flush (one commit for all the slots, not two alternating halves)
            await asyncio.sleep(0)
            self._flush.clear()
            try:
                async with self._flush_lock:
                    await self._flush_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._flush_failures.failed(exc)
                await asyncio.sleep(0.5)
                self._flush.set()
            else:
                self._flush_failures.ok()

    def info(self) -> WorkerInfo:
        """This worker's row in the worker registry, as of now."""
        now = time.time()
        return WorkerInfo(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            concurrency=self.concurrency,
            job_types=self._types(),
            running=len(self._active),
            processed=self.processed,
            heartbeat_at=now,
            # live as long as its leases would be: a worker that stops heartbeating is
            # dead for the registry when its jobs' leases expire
            expires_at=now + self.lease_seconds,
        )

    async def _register(self) -> None:
        try:
            await self.app.store.register_worker(self.info())
        except Exception as exc:
            self._registry_failures.failed(exc)
        else:
            self._registry_failures.ok()

    async def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            await self._register()
            # and jobs whose outcome waits for a flush to retry: their leases must last
            waiting = [c.job_id for c in self._changes if c.expect_owner == self.id]
            ids = list(dict.fromkeys([*self._active, *self._ready, *waiting]))
            if not ids:
                continue
            try:
                held = await self.app.store.heartbeat(self.id, ids, self.lease_seconds)
            except Exception as exc:
                self._heartbeat_failures.failed(exc)
                continue
            self._heartbeat_failures.ok()
            for job_id in ids:
                if job_id not in held and (job_id in self._active or job_id in self._ready):
                    log.warning("lost the lease of job %d; interrupting it", job_id)
                    self._interrupt(job_id)

    async def _reaper_loop(self) -> None:
        interval = max(0.05, min(self.lease_seconds / 2, 5.0))
        while True:
            await asyncio.sleep(interval)
            try:
                ids = await self.app.manager.requeue_expired()
                if ids:
                    log.warning("requeued %d job(s) whose lease expired", len(ids))
                    self._wake.set()
            except Exception as exc:
                self._reaper_failures.failed(exc)
            else:
                self._reaper_failures.ok()

    @property
    def active(self) -> int:
        return len(self._active)
