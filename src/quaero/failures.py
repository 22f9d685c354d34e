"""One log record per streak of failures of an operation a loop retries, not one per try.

A worker's loops (claim, event feed, heartbeat, reaper) retry every fraction of a second.
With the store unreachable (PostgreSQL stopped, a disk full) each try logged a whole
traceback: two worker processes wrote 256 tracebacks in 25 s. :class:`FailureStreak`
logs the first failure with its traceback, then one line at most every ``every``
seconds, and one line when the operation works again, as Celery's consumer does
("Cannot connect ...: Trying again").
"""

from __future__ import annotations

import logging
import time

__all__ = ["FailureStreak"]

#: seconds between two records of one continuing streak
EVERY = 30.0


class FailureStreak:
    """Logs a retried operation's failures: ``failed(exc)`` after each failed try,
    ``ok()`` after each successful one (free when nothing failed)."""

    def __init__(self, logger: logging.Logger, what: str, every: float = EVERY) -> None:
        self.logger = logger
        self.what = what
        self.every = every
        #: failed tries in the current streak (0: none)
        self.count = 0
        self._since = 0.0
        self._logged = 0.0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.count += 1
        if self.count == 1:
            self._since = self._logged = now
            self.logger.error("%s failed; retrying", self.what, exc_info=exc)
        elif now - self._logged >= self.every:
            self._logged = now
            self.logger.error(
                "%s still failing: %d tries in %.0f s, the last: %s",
                self.what,
                self.count,
                now - self._since,
                exc,
            )

    def ok(self) -> None:
        if self.count:
            self.logger.warning(
                "%s works again after %d failed tries in %.1f s",
                self.what,
                self.count,
                time.monotonic() - self._since,
            )
            self.count = 0
