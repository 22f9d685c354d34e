"""A job definition: a saved job (a type and its config) with a name, optionally on a
cron schedule. One TOML file per definition; the file name is the id::

    # jobs/nightly-docs.toml
    name = "PostgreSQL docs"
    job_type = "crawl"
    schedule = "0 3 * * *"     # optional; UTC unless timezone = "Europe/Paris"
    enabled = true             # false: the schedule does not fire (runs by hand still work)

    [config]
    start_urls = ["https://www.postgresql.org/docs/current/"]

:func:`parse_definition` checks the shape of one (the keys, their types, the schedule);
whether the job type exists and accepts the config is checked against an app's registry
by :class:`~quaero.definitions.catalog.Catalog`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidJobSpec, QuaeroError
from ..jobs.models import iso, redact_config
from . import cron

__all__ = [
    "FIELDS",
    "DefinitionNotFound",
    "InvalidDefinition",
    "JobDefinition",
    "check_id",
    "parse_definition",
]

ID_PATTERN = re.compile(r"[a-z0-9_-]{1,100}")
#: the keys of a definition (its id is the file name, not a key)
FIELDS = ("name", "description", "job_type", "schedule", "timezone", "enabled", "config")
MAX_NAME = 500
MAX_DESCRIPTION = 10_000


class InvalidDefinition(InvalidJobSpec):
    """A definition (file or API body) that cannot be used; the message says why."""


class DefinitionNotFound(QuaeroError):
    """No definition has the given id."""

    def __init__(self, definition_id: str) -> None:
        super().__init__(f"job definition {definition_id!r} not found")
        self.definition_id = definition_id


@dataclass(slots=True, frozen=True)
class JobDefinition:
    """A checked definition. ``updated_at`` is when it was last written (the file's
    modification time): its schedule counts from then, never from before."""

    id: str
    job_type: str
    name: str
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    #: a cron expression (see :mod:`quaero.definitions.cron`), None for runs by hand only
    schedule: str | None = None
    timezone: str = "UTC"
    enabled: bool = True
    updated_at: float = 0.0

    @property
    def scheduled(self) -> bool:
        """True when the scheduler starts this definition on its schedule."""
        return self.enabled and self.schedule is not None

    def next_run(self, now: float) -> float | None:
        """When the schedule fires next after ``now`` (None if not scheduled)."""
        if not self.scheduled or self.schedule is None:
            return None
        return cron.next_slot(self.schedule, self.timezone, now)

    def to_toml(self) -> dict[str, Any]:
        """The file's content (the id is the file name; unset optional keys are left out)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["job_type"] = self.job_type
        if self.schedule is not None:
            out["schedule"] = self.schedule
        if self.timezone != "UTC":
            out["timezone"] = self.timezone
        out["enabled"] = self.enabled
        out["config"] = self.config
        return out

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """The JSON form (API, CLI): credentials in the config are redacted."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "job_type": self.job_type,
            "config": redact_config(self.config),
            "schedule": self.schedule,
            "timezone": self.timezone,
            "enabled": self.enabled,
            "updated_at": iso(self.updated_at) if self.updated_at else None,
            "next_run_at": iso(self.next_run(now)) if now is not None else None,
        }


def check_id(definition_id: str) -> str:
    """The id (a file stem): 1-100 of ``a-z 0-9 _ -``; InvalidDefinition otherwise."""
    if not ID_PATTERN.fullmatch(definition_id):
        raise InvalidDefinition(
            f"invalid definition id {definition_id!r}: use 1-100 characters a-z, 0-9, _ and -"
        )
    return definition_id


def parse_definition(
    definition_id: str, data: Mapping[str, Any], updated_at: float = 0.0
) -> JobDefinition:
    """Check the shape of a definition (TOML table or JSON object); raises
    InvalidDefinition naming the first bad key."""
    check_id(definition_id)
    if not isinstance(data, Mapping):
        raise InvalidDefinition("a definition must be a table of keys")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidDefinition(
            f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(FIELDS)})"
        )
    job_type = data.get("job_type")
    if not isinstance(job_type, str) or not job_type.strip():
        raise InvalidDefinition("job_type is required (a registered job type, e.g. 'crawl')")
    name = _string(data, "name", definition_id, MAX_NAME) or definition_id
    description = _string(data, "description", "", MAX_DESCRIPTION)
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidDefinition(f"enabled must be true or false, got {enabled!r}")
    config = data.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InvalidDefinition("config must be a table (the job's options)")
    _check_toml_value(config, "config")
    schedule = data.get("schedule")
    if schedule is not None and not isinstance(schedule, str):
        raise InvalidDefinition(f"schedule must be a cron string, got {schedule!r}")
    timezone = _string(data, "timezone", "UTC", 64) or "UTC"
    try:
        cron.check_timezone(timezone)
        schedule = cron.check_schedule(schedule) if schedule and schedule.strip() else None
    except ValueError as exc:
        raise InvalidDefinition(f"schedule: {exc}") from None
    return JobDefinition(
        id=definition_id,
        job_type=job_type.strip(),
        name=name,
        description=description,
        config=dict(config),
        schedule=schedule,
        timezone=timezone,
        enabled=enabled,
        updated_at=updated_at,
    )


def _string(data: Mapping[str, Any], key: str, default: str, max_len: int) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidDefinition(f"{key} must be a string, got {value!r}")
    if len(value) > max_len:
        raise InvalidDefinition(f"{key} is longer than {max_len} characters")
    return value.strip()


def _check_toml_value(value: Any, where: str) -> None:
    """Refuse what a TOML file cannot hold (a JSON body may have nulls or NaN)."""
    if value is None:
        raise InvalidDefinition(f"{where}: null cannot be saved in TOML (leave the key out)")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidDefinition(f"{where}: {value} is not a finite number")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidDefinition(f"{where}: keys must be strings")
            _check_toml_value(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_toml_value(v, f"{where}[{i}]")
