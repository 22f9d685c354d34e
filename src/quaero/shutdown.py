"""Bounded close paths: nothing quaero closes may wait forever.

A task being cancelled can take unboundedly long to finish: asyncpg, for one, releases
a connection whose query was cancelled only after its cancel request reached the
server, which under load (or with the server at its connection limit) may never
happen. ``task.cancel(); await task`` and ``asyncio.wait_for`` (which waits for the
cancellation it requested) then hang a shutdown, a test teardown with it. These helpers
wait at most a bound, log what is left behind, and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

__all__ = ["CLOSE_TIMEOUT", "bounded", "cancel_and_wait", "wait_event"]

log = logging.getLogger(__name__)

#: the default bound of each close step, in seconds
CLOSE_TIMEOUT = 5.0


def _reap(task: asyncio.Future[Any]) -> None:
    # retrieve the outcome so that asyncio does not log "exception was never retrieved"
    if task.done() and not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


async def cancel_and_wait(
    tasks: asyncio.Future[Any] | Iterable[asyncio.Future[Any]] | None,
    timeout: float = CLOSE_TIMEOUT,
    what: str = "task",
) -> bool:
    """Cancel ``tasks`` and wait at most ``timeout`` seconds for them to end. Returns
    True if they all ended; otherwise logs a warning and leaves the rest running."""
    if tasks is None:
        return True
    items = [tasks] if isinstance(tasks, asyncio.Future) else list(tasks)
    pending = [t for t in items if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        _, still = await asyncio.wait(pending, timeout=timeout)
        if still:
            log.warning(
                "%d %s(s) did not stop within %.1fs of being cancelled", len(still), what, timeout
            )
            for t in still:
                t.add_done_callback(_reap)
    for t in items:
        _reap(t)
    return all(t.done() for t in items)


async def bounded(aw: Awaitable[Any], timeout: float = CLOSE_TIMEOUT, what: str = "close") -> bool:
    """Run ``aw`` for at most ``timeout`` seconds. Returns True if it finished (its
    exception, if any, is logged, not raised); otherwise cancels it without waiting for
    the cancellation, logs a warning and returns False."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        task.add_done_callback(_reap)
        log.warning("%s did not finish within %.1fs; going on without it", what, timeout)
        return False
    exc = task.exception()
    if exc is not None:
        log.warning("%s failed: %r", what, exc)
    return True


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass (None: no limit); True if
    it was set. A cancel of the waiting task always propagates.

    Not ``asyncio.wait_for(event.wait(), timeout)``: on Python 3.11 that returns the
    inner result, dropping the cancel, when the event is set in the same loop turn as
    the task is cancelled (CPython gh-86296, fixed in 3.12), and a loop woken often (the
    event bus on NOTIFY, a worker's claim loop) then never stops: its close waited out
    its bound and the task ran on against a closed store. ``asyncio.timeout`` counts
    cancels (``Task.cancelling``), so it tells its own timeout from a cancel."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
