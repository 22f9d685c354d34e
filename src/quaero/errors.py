"""Exceptions raised by quaero.

::

    QuaeroError
    ├── ConfigError            bad configuration value (file, environment or flag)
    ├── InvalidArgument        an argument no store can hold (an id of 2**63, offset -1, ...)
    ├── JobNotFound            no job with that id
    ├── InvalidTransition      a status change the state machine forbids
    ├── InvalidJobSpec         a job that cannot be created (unknown type, bad config, ...)
    ├── JobStateError          an operation the job's current state does not allow
    ├── StoreError             the store failed (I/O, schema, unsupported URL)
    ├── JobCancelled           raised inside a handler whose job was cancelled
    ├── RetryJob               raised by a handler: retry after ``delay`` seconds
    └── PermanentJobError      raised by a handler: fail now, do not retry
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InvalidArgument",
    "InvalidJobSpec",
    "InvalidTransition",
    "JobCancelled",
    "JobNotFound",
    "JobStateError",
    "PermanentJobError",
    "QuaeroError",
    "RetryJob",
    "StoreError",
]


class QuaeroError(Exception):
    """Base class of every error quaero raises on purpose."""


class ConfigError(QuaeroError):
    """A configuration value is missing, malformed or out of range."""


class InvalidArgument(QuaeroError, ValueError):
    """An argument out of the range the store can hold (a 64-bit signed integer), or
    negative where that means nothing (an id, an offset); nothing was read or written."""


class JobNotFound(QuaeroError):
    """No job has the given id."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class InvalidTransition(QuaeroError):
    """The state machine forbids this status change; nothing was changed."""

    def __init__(self, job_id: int, current: str, requested: str) -> None:
        super().__init__(f"job {job_id}: illegal status change {current} -> {requested}")
        self.job_id = job_id
        self.current = current
        self.requested = requested


class InvalidJobSpec(QuaeroError):
    """A job could not be created from the given type, name or config."""


class JobStateError(QuaeroError):
    """The job's current state does not allow the operation (e.g. delete a running job)."""


class StoreError(QuaeroError):
    """The store could not be opened or failed an operation."""


class JobCancelled(QuaeroError):
    """Raised by :meth:`JobContext.check_cancelled` when the job was cancelled."""


class RetryJob(QuaeroError):
    """Raised by a handler to be retried after ``delay`` seconds (e.g. HTTP Retry-After).

    Counts as a failed attempt: after ``max_attempts`` the job fails with this message.
    """

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentJobError(QuaeroError):
    """Raised by a handler for a failure that retrying cannot fix (e.g. HTTP 404)."""
