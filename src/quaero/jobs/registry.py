"""The registry of job types: a name, a handler coroutine, an optional config validator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
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
    """Job types by name.

    A job may only be created with a type someone can run: one registered here, one of
    ``external`` (types served only by worker processes of another program: their configs
    are not checked here), or any type when ``allow_unregistered`` (``[jobs]`` settings).
    """

    def __init__(self, external: Iterable[str] = (), *, allow_unregistered: bool = False) -> None:
        self._types: dict[str, JobType] = {}
        self.external = frozenset(external)
        self.allow_unregistered = allow_unregistered

    def register(self, job_type: JobType) -> None:
        if not job_type.name or not job_type.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"invalid job type name {job_type.name!r}")
        self._types[job_type.name] = job_type

    def get(self, name: str) -> JobType:
        """The registered type; InvalidJobSpec naming the known types otherwise."""
        try:
            return self._types[name]
        except KeyError:
            raise InvalidJobSpec(self._unknown(name)) from None

    def _unknown(self, name: object) -> str:
        known = ", ".join(sorted(self._types)) or "none"
        extra = f"; external: {', '.join(sorted(self.external))}" if self.external else ""
        return f"unknown job type {name!r} (registered: {known}{extra})"

    def accepts(self, name: str) -> bool:
        """True if a job of this type may be created (someone may run it)."""
        return name in self._types or name in self.external or self.allow_unregistered

    def check_type(self, name: str) -> None:
        """Raise InvalidJobSpec (listing the known types) unless :meth:`accepts` ``name``."""
        if not self.accepts(name):
            raise InvalidJobSpec(self._unknown(name))

    def max_attempts(self, name: str) -> int | None:
        """The type's own ``max_attempts`` (None: the store's default)."""
        jt = self._types.get(name)
        return jt.max_attempts if jt is not None else None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def validate(self, name: str, config: Any) -> dict[str, Any]:
        """Check a job's type and config; return the config to store. A type accepted
        without being registered here (external) only needs a JSON object."""
        self.check_type(name)
        if not isinstance(config, dict):
            raise InvalidJobSpec(f"config of a {name!r} job must be a JSON object")
        jt = self._types.get(name)
        if jt is None or jt.validate is None:
            return config
        try:
            return jt.validate(config)
        except InvalidJobSpec:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidJobSpec(f"invalid config for {name!r}: {exc}") from exc
