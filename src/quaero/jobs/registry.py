"""The registry of job types: a name, a handler coroutine, an optional config validator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidJobSpec

if TYPE_CHECKING:
    from .context import JobContext

__all__ = ["Handler", "JobType", "Registry", "Validator"]

Handler = Callable[["JobContext"], Awaitable[Any]]
#: returns the normalised config or raises ValueError / InvalidJobSpec with a clear message
Validator = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(slots=True, frozen=True)
class JobType:
    name: str
    handler: Handler
    validate: Validator | None = None
    max_attempts: int | None = None
    description: str = ""


class Registry:
    """Job types by name."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def register(self, job_type: JobType) -> None:
        if not job_type.name or not job_type.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"invalid job type name {job_type.name!r}")
        self._types[job_type.name] = job_type

    def get(self, name: str) -> JobType:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "none"
            raise InvalidJobSpec(f"unknown job type {name!r} (registered: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def validate(self, name: str, config: Any) -> dict[str, Any]:
        """Check a job's type and config; return the config to store."""
        jt = self.get(name)
        if not isinstance(config, dict):
            raise InvalidJobSpec(f"config of a {name!r} job must be a JSON object")
        if jt.validate is None:
            return config
        try:
            return jt.validate(config)
        except InvalidJobSpec:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidJobSpec(f"invalid config for {name!r}: {exc}") from exc
