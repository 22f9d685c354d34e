"""The catalog: an app's job definitions and the runs they start.

It loads ``[jobs] definitions_dir``, checks each definition against the app's job types
(so a definition of an unknown type, or with a config its type refuses, is reported as
a bad file), notices when files change (:meth:`Catalog.refresh`), and writes and deletes
them for the API.

A run of a definition is a top-level job whose metadata names it::

    {"definition": "nightly-docs", "trigger": "schedule", "scheduled_for": "2024-05-02T03:00:00Z"}

which is how the scheduler finds a definition's active run and its last scheduled run
after a restart (:class:`~quaero.store.base.JobQuery` ``metadata`` filter).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidJobSpec
from ..jobs.models import ACTIVE, SECRET_CONFIG_KEYS, Job, NewJob, iso
from ..store.base import JobQuery
from .loader import (
    definition_path,
    delete_definition,
    fingerprint,
    load_dir,
    write_definition,
)
from .models import DefinitionNotFound, InvalidDefinition, JobDefinition, parse_definition

if TYPE_CHECKING:
    from ..app import App

__all__ = ["META_DEFINITION", "META_SCHEDULED_FOR", "META_TRIGGER", "Catalog", "catalog_of"]

log = logging.getLogger(__name__)

META_DEFINITION = "definition"
#: what started the run: "schedule", "api" or "cli"
META_TRIGGER = "trigger"
#: the fire time a scheduled run is for (ISO 8601 UTC)
META_SCHEDULED_FOR = "scheduled_for"
REDACTED = "<redacted>"


class Catalog:
    """The job definitions of ``app``, from ``directory`` (default ``[jobs]
    definitions_dir``). Call :meth:`reload` (or use :func:`catalog_of`) before reading.
    Bad files are logged as warnings unless ``log_errors`` is false."""

    def __init__(
        self, app: App, directory: str | Path | None = None, *, log_errors: bool = True
    ) -> None:
        self.app = app
        self.log_errors = log_errors
        self.directory = Path(
            directory if directory is not None else app.settings.jobs.definitions_dir
        )
        self._definitions: dict[str, JobDefinition] = {}
        self._errors: dict[str, str] = {}
        self._fingerprint: tuple[object, ...] | None = None
        self._listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ reading
    @property
    def definitions(self) -> list[JobDefinition]:
        """The good definitions, by id."""
        return [self._definitions[k] for k in sorted(self._definitions)]

    @property
    def errors(self) -> dict[str, str]:
        """An error message per bad file name (``bad.toml``)."""
        return dict(self._errors)

    def get(self, definition_id: str) -> JobDefinition:
        """The definition; DefinitionNotFound, or InvalidDefinition if its file is bad."""
        found = self._definitions.get(definition_id)
        if found is not None:
            return found
        error = self._errors.get(f"{definition_id}.toml")
        if error is not None:
            raise InvalidDefinition(f"job definition {definition_id!r} has errors: {error}")
        raise DefinitionNotFound(definition_id)

    def reload(self) -> None:
        """Load the directory again; bad files are logged and listed in :attr:`errors`."""
        self._fingerprint = fingerprint(self.directory)
        result = load_dir(self.directory, self.check)
        for name, error in sorted(result.errors.items()):
            if self.log_errors and self._errors.get(name) != error:
                log.warning("job definition %s: %s", self.directory / name, error)
        self._definitions, self._errors = result.definitions, result.errors
        for listener in self._listeners:
            listener()

    def refresh(self) -> bool:
        """Reload if a file was added, removed or rewritten since the last load."""
        if fingerprint(self.directory) == self._fingerprint:
            return False
        self.reload()
        return True

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every (re)load."""
        self._listeners.append(listener)

    def check(self, definition: JobDefinition) -> JobDefinition:
        """Raise InvalidDefinition unless the job type is registered and takes the config."""
        registry = self.app.registry
        if not registry.accepts(definition.job_type):
            known = ", ".join(registry.names()) or "none"
            raise InvalidDefinition(
                f"job_type: unknown job type {definition.job_type!r} (registered: {known})"
            )
        try:
            registry.validate(definition.job_type, definition.config)
        except InvalidJobSpec as exc:
            raise InvalidDefinition(f"config: {exc}") from None
        return definition

    # ------------------------------------------------------------------ writing
    def put(self, definition_id: str, data: Mapping[str, Any]) -> tuple[JobDefinition, bool]:
        """Check and save a definition (new or replacing one); returns it and whether it
        is new. A credential the API showed as ``<redacted>`` keeps its saved value."""
        old = self._definitions.get(definition_id)
        data = dict(data)
        if old is not None and isinstance(data.get("config"), Mapping):
            data["config"] = _keep_secrets(data["config"], old.config)
        definition = self.check(parse_definition(definition_id, data, time.time()))
        created = not definition_path(self.directory, definition_id).exists()
        write_definition(self.directory, definition)
        self.reload()
        return self.get(definition_id), created

    def delete(self, definition_id: str) -> None:
        """Delete the definition's file (a bad file too); DefinitionNotFound if none."""
        if not delete_definition(self.directory, definition_id):
            raise DefinitionNotFound(definition_id)
        self.reload()

    # ------------------------------------------------------------------ runs
    async def execute(self, definition_id: str, trigger: str = "api") -> Job:
        """Start a run now (also when the definition is disabled: ``enabled`` is about the
        schedule). Returns the new top-level job."""
        d = self.get(definition_id)
        return await self.app.manager.create_job(
            d.job_type, d.config, d.name, metadata=_metadata(d, trigger)
        )

    async def start_scheduled(self, definition: JobDefinition, slot: float) -> Job | None:
        """Start the run for fire time ``slot``; None if any process already started it
        (a top-level dedupe key per definition and fire time)."""
        d = definition
        registry = self.app.registry
        config = registry.validate(d.job_type, d.config)
        metadata = {**_metadata(d, "schedule"), META_SCHEDULED_FOR: iso(slot)}
        spec = NewJob(
            d.job_type,
            config,
            name=d.name,
            metadata=metadata,
            max_attempts=registry.max_attempts(d.job_type),
            dedupe_key=f"schedule:{d.id}:{round(slot)}",
        )
        created = await self.app.manager.create_jobs([spec])
        return created[0] if created else None

    async def runs(
        self,
        definition_id: str,
        *,
        active: bool = False,
        trigger: str | None = None,
        limit: int = 10,
    ) -> list[Job]:
        """The definition's runs, newest first (only pending/running ones if ``active``,
        only those started by ``trigger`` if given)."""
        wanted: dict[str, str] = {META_DEFINITION: definition_id}
        if trigger is not None:
            wanted[META_TRIGGER] = trigger
        page = await self.app.store.list_jobs(
            JobQuery(
                statuses=ACTIVE if active else (),
                parent_id="root",
                metadata=wanted,
                limit=limit,
            )
        )
        return list(page.items)

    async def active_run(self, definition_id: str) -> Job | None:
        """A pending or running run of the definition, if there is one."""
        found = await self.runs(definition_id, active=True, limit=1)
        return found[0] if found else None

    async def last_scheduled_slot(self, definition_id: str) -> float | None:
        """The fire time of the definition's latest scheduled run (None if it never ran
        on its schedule, or that run was deleted)."""
        for job in await self.runs(definition_id, trigger="schedule", limit=1):
            value = job.metadata.get(META_SCHEDULED_FOR)
            if isinstance(value, str):
                try:
                    return dt.datetime.fromisoformat(value).timestamp()
                except ValueError:
                    return None
        return None


def catalog_of(app: App) -> Catalog:
    """The app's catalog (created and loaded on first use; kept in ``app.state``)."""
    catalog = app.state.get("definitions")
    if not isinstance(catalog, Catalog):
        catalog = Catalog(app)
        catalog.reload()
        app.state["definitions"] = catalog
    return catalog


def _metadata(d: JobDefinition, trigger: str) -> dict[str, Any]:
    return {META_DEFINITION: d.id, META_TRIGGER: trigger}


def _keep_secrets(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(new)
    for key in SECRET_CONFIG_KEYS & out.keys():
        value, saved = out[key], old.get(key)
        if value == REDACTED and saved is not None:
            out[key] = saved
        elif isinstance(value, dict) and isinstance(saved, dict):
            out[key] = {
                k: saved[k] if v == REDACTED and k in saved else v for k, v in value.items()
            }
    return out
