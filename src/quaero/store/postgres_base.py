"""What every part of the PostgreSQL store shares: the pool and the transaction runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from ..errors import StoreError
from ..events.types import Event
from ..jobs.models import JobStatus, StatusChange
from ..jobs.planner import Planner
from ..jobs.progress import overall_status
from .postgres_tx import PgTx

__all__ = ["PgBase"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: errors after which the whole transaction is simply run again: deadlocks (the claim
#: locks children before parents), serialization failures, and a unique key taken by a
#: racing transaction (top-level dedupe keys), which the next try sees
_RETRYABLE = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UniqueViolationError,
)
_MAX_TRIES = 8


class PgBase:
    """The pool, the transaction runner and the ``on_commit`` hand-off."""

    _pool: asyncpg.Pool | None = None
    on_commit: Callable[[list[Event]], None] | None
    #: transactions committed and retried by this process (metrics, benchmarks)
    commits = 0
    retries = 0

    async def finish_parents(self, ids: list[int]) -> None:
        """Complete waiting parents whose children are all done (overall status)."""

        async def op(tx: PgTx) -> None:
            await tx.lock_with_parents(ids)

            def steps(plan: Planner) -> None:
                for i in ids:
                    job = plan.jobs.get(i)
                    ready = job and job.waiting and job.status is JobStatus.RUNNING
                    if job and ready and job.children.active == 0:
                        status = overall_status(JobStatus.RUNNING, job.children)
                        plan.change(StatusChange(i, status, reason="all children finished"))

            plan, _ = await tx.plan(steps)
            await tx.write(plan)

        await self._run(op)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    def _publish(self, events: list[Event]) -> None:
        if events and self.on_commit is not None:
            self.on_commit(events)

    async def _run(
        self,
        fn: Callable[[PgTx], Awaitable[T]],
        prepare: Callable[[asyncpg.Connection], Awaitable[Any]] | None = None,
    ) -> T:
        """Run ``fn`` in a transaction (again, from scratch, after a deadlock or a
        serialization failure), then hand its events to ``on_commit``. ``prepare`` runs
        on the same connection before the transaction; ``fn`` finds its result in
        ``tx.prepared``."""
        for attempt in range(_MAX_TRIES):
            try:
                async with self.pool.acquire() as conn:
                    tx = PgTx(conn)
                    if prepare is not None:
                        tx.prepared = await prepare(conn)
                    if self.on_commit is None:
                        # nobody takes the events: what the commit hook did that matters
                        # (parents to finish) comes with the COMMIT's reply, in a NOTICE
                        conn.add_log_listener(tx.on_notice)
                        try:
                            async with conn.transaction():
                                value = await fn(tx)
                        finally:
                            conn.remove_log_listener(tx.on_notice)
                    else:
                        async with conn.transaction():
                            value = await fn(tx)
                        await tx.after_commit()
            except _RETRYABLE as exc:
                if attempt == _MAX_TRIES - 1:
                    raise StoreError(f"PostgreSQL transaction kept failing: {exc}") from exc
                self.retries += 1
                log.debug("retrying a transaction after %s", type(exc).__name__)
                await asyncio.sleep(0.005 * 2**attempt)
                continue
            except asyncpg.PostgresError as exc:
                raise StoreError(f"PostgreSQL: {exc}") from exc
            self.commits += 1
            self._publish(tx.events)
            if tx.finish:
                try:
                    await self.finish_parents(tx.finish)
                except Exception:  # committed anyway; the sweeper finishes them later
                    log.exception("could not finish parents %s", tx.finish)
            return value
        raise AssertionError("unreachable")
