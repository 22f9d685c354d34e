"""The scheduler: starts enabled definitions with a ``schedule`` on time.

It runs as an asyncio task in the web process (``quaero serve``; ``[jobs] scheduler =
false`` turns it off). Each pass (:meth:`Scheduler.tick`), for every scheduled
definition:

1. the *due* fire time is the latest one at or before now that is later than the last
   scheduled run's and than the definition's last write (:func:`~.cron.due_slot`). So
   after downtime the fire times that were missed make **one** run, not one each;
2. if a run of the definition (scheduled or by hand) is still pending or running, the
   due fire time waits: **one run at a time**. It starts when that run ends, unless a
   later fire time has come by then (which then replaces it);
3. the run is created with the dedupe key ``schedule:<id>:<fire time>`` on a top-level
   job: however many processes run a scheduler on one store, **one** of them creates it.

State that must survive a restart lives in the store, not here: the last scheduled run
is found by its metadata (``definition``, ``trigger = "schedule"``, ``scheduled_for``).
Time comes from ``clock`` so tests can drive :meth:`tick` through days in no time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..errors import InvalidJobSpec
from ..jobs.models import Job, iso
from ..shutdown import cancel_and_wait, wait_event
from . import cron
from .catalog import Catalog
from .models import JobDefinition

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


class Scheduler:
    """Starts the runs of ``catalog``'s scheduled definitions.

    ``poll_interval`` bounds how long it sleeps between passes, which is how soon it
    sees a blocking run finish or a definition changed by another process (fire times
    themselves are waited for exactly).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 5.0,
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.poll_interval = poll_interval
        #: per definition: the fire time of its last scheduled run (None: never ran)
        self._last: dict[str, float | None] = {}
        #: per definition: the due fire time waiting for an active run (logged once)
        self._waiting: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        catalog.on_change(self.wake)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task, what="scheduler")

    def wake(self) -> None:
        """Make the next pass happen now (e.g. a definition was saved)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler pass failed")
            await wait_event(self._wake, self._sleep_for(self.clock()))

    def _sleep_for(self, now: float) -> float:
        delay = self.poll_interval
        for d in self.catalog.definitions:
            if d.scheduled and d.schedule is not None:
                delay = min(delay, cron.next_slot(d.schedule, d.timezone, now) - now)
        return max(delay, 0.0) + 0.01  # land just after the fire time, not just before

    # ------------------------------------------------------------------ one pass
    async def tick(self, now: float | None = None) -> list[Job]:
        """Start every run that is due at ``now`` (default: the clock); returns them."""
        now = self.clock() if now is None else now
        self.catalog.refresh()
        scheduled = [d for d in self.catalog.definitions if d.scheduled]
        for gone in self._last.keys() - {d.id for d in scheduled}:
            # forget it: if it comes back, its last run is read from the store again
            self._last.pop(gone, None)
            self._waiting.pop(gone, None)
        started: list[Job] = []
        for d in scheduled:
            try:
                job = await self._start_if_due(d, now)
            except Exception:
                log.exception("job definition %s: starting its scheduled run failed", d.id)
                continue
            if job is not None:
                started.append(job)
        return started

    async def _start_if_due(self, d: JobDefinition, now: float) -> Job | None:
        assert d.schedule is not None
        if d.id not in self._last:
            self._last[d.id] = await self.catalog.last_scheduled_slot(d.id)
        slot = cron.due_slot(
            d.schedule, d.timezone, now, last_slot=self._last[d.id], since=d.updated_at
        )
        if slot is None:
            return None
        active = await self.catalog.active_run(d.id)
        if active is not None:
            if self._waiting.get(d.id) != slot:
                log.info(
                    "job definition %s: the run for %s waits for job %d to finish",
                    d.id,
                    iso(slot),
                    active.id,
                )
            self._waiting[d.id] = slot
            return None
        self._waiting.pop(d.id, None)
        try:
            job = await self.catalog.start_scheduled(d, slot)
        except InvalidJobSpec as exc:  # e.g. its job type is gone: skip this fire time
            self._last[d.id] = slot
            log.error("job definition %s: cannot start the run for %s: %s", d.id, iso(slot), exc)
            return None
        self._last[d.id] = slot
        if job is None:
            log.info("job definition %s: the run for %s was started elsewhere", d.id, iso(slot))
        else:
            log.info("job definition %s: started job %d (for %s)", d.id, job.id, iso(slot))
        return job
