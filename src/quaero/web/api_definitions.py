"""REST: ``/api/definitions`` (list, one, create/update, delete, execute) and the
scheduler.

This router brings its own lifespan (FastAPI runs it inside the app's, so the App is
open): it loads ``[jobs] definitions_dir`` and, unless ``[jobs] scheduler = false``,
runs the :class:`~quaero.definitions.Scheduler` for as long as the web app runs.
Definition files edited by hand or by another process are picked up on the next read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from ..app import App
from ..definitions import Catalog, DefinitionNotFound, JobDefinition, Scheduler, catalog_of
from ..jobs.models import job_to_dict
from .deps import check_job_policy, get_app, require_token
from .schemas import JobOut, errors

__all__ = ["router"]


@contextlib.asynccontextmanager
async def lifespan(api: FastAPI) -> AsyncIterator[None]:
    app: App = api.state.quaero
    catalog = catalog_of(app)
    scheduler = Scheduler(catalog) if app.settings.jobs.scheduler else None
    if scheduler is not None:
        await scheduler.start()
    try:
        yield
    finally:
        if scheduler is not None:
            await scheduler.stop()


router = APIRouter(
    prefix="/api/definitions",
    tags=["definitions"],
    dependencies=[Depends(require_token)],
    lifespan=lifespan,
)

AppDep = Annotated[App, Depends(get_app)]
IdPath = Annotated[
    str,
    Path(
        description="the file name without .toml: a-z, 0-9, _ and -",
        json_schema_extra={"pattern": "^[a-z0-9_-]{1,100}$"},  # checked by the catalog
    ),
]


class DefinitionIn(BaseModel):
    """``PUT /api/definitions/{id}``: the whole definition (it replaces the saved one)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    job_type: str = Field(min_length=1, max_length=100, examples=["crawl"])
    name: str | None = Field(default=None, max_length=500, description="default: the id")
    description: str = Field(default="", max_length=10_000)
    config: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"start_urls": ["https://example.com/"], "max_depth": 2}],
        description="credentials shown as <redacted> keep their saved value",
    )
    schedule: str | None = Field(
        default=None, examples=["0 3 * * *"], description="cron: minute hour day month weekday"
    )
    timezone: str = Field(default="UTC", examples=["Europe/Paris"])
    enabled: bool = Field(default=True, description="false: the schedule does not fire")


class DefinitionItem(BaseModel):
    id: str
    name: str
    description: str
    job_type: str
    config: dict[str, Any]
    schedule: str | None
    timezone: str
    enabled: bool
    updated_at: str | None
    next_run_at: str | None = Field(description="the next scheduled start (null: none)")


class DefinitionOut(DefinitionItem):
    """One definition with its runs."""

    last_run: JobOut | None = Field(description="the newest run (null: never ran)")
    active_run_id: int | None = Field(description="a pending or running run, if any")


class DefinitionError(BaseModel):
    file: str
    error: str


class DefinitionList(BaseModel):
    items: list[DefinitionItem]
    errors: list[DefinitionError] = Field(description="files that could not be loaded")
    directory: str


class Executed(BaseModel):
    job_id: int
    definition: str
    job: JobOut


def _catalog(app: App) -> Catalog:
    catalog = catalog_of(app)
    catalog.refresh()
    return catalog


def _get(catalog: Catalog, definition_id: str) -> JobDefinition:
    try:
        return catalog.get(definition_id)
    except DefinitionNotFound as exc:
        raise HTTPException(404, str(exc)) from None


async def _detail(catalog: Catalog, d: JobDefinition) -> dict[str, Any]:
    runs = await catalog.runs(d.id, limit=1)
    active = runs[0] if runs and not runs[0].is_terminal else await catalog.active_run(d.id)
    return {
        **d.to_dict(time.time()),
        "last_run": job_to_dict(runs[0]) if runs else None,
        "active_run_id": active.id if active is not None else None,
    }


@router.get("", response_model=DefinitionList, summary="List job definitions")
async def list_definitions(app: AppDep) -> dict[str, Any]:
    """Every loaded definition with its next scheduled start, and each file that could
    not be loaded with the reason."""
    catalog = _catalog(app)
    now = time.time()
    return {
        "items": [d.to_dict(now) for d in catalog.definitions],
        "errors": [{"file": f, "error": e} for f, e in sorted(catalog.errors.items())],
        "directory": str(catalog.directory),
    }


@router.get(
    "/{definition_id}",
    response_model=DefinitionOut,
    summary="One job definition",
    responses=errors(404),
)
async def get_definition(app: AppDep, definition_id: IdPath) -> dict[str, Any]:
    """The definition, its newest run and its active run (422 if its file is bad)."""
    catalog = _catalog(app)
    return await _detail(catalog, _get(catalog, definition_id))


@router.put(
    "/{definition_id}",
    response_model=DefinitionOut,
    summary="Save a job definition",
    responses={201: {"model": DefinitionOut, "description": "Created"}},
)
async def put_definition(
    app: AppDep, definition_id: IdPath, body: DefinitionIn, response: Response
) -> dict[str, Any]:
    """Create (201) or replace (200) ``<id>.toml``. The job type must be registered, the
    config valid for it and the schedule a valid cron expression (422 otherwise)."""
    check_job_policy(app.settings, body.config)
    catalog = _catalog(app)
    definition, created = catalog.put(definition_id, body.model_dump())
    response.status_code = 201 if created else 200
    return await _detail(catalog, definition)


@router.delete(
    "/{definition_id}",
    status_code=204,
    summary="Delete a job definition",
    responses=errors(404),
)
async def delete_definition(app: AppDep, definition_id: IdPath) -> Response:
    """Delete ``<id>.toml`` (its runs stay in the job list)."""
    try:
        _catalog(app).delete(definition_id)
    except DefinitionNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(status_code=204)


@router.post(
    "/{definition_id}/execute",
    response_model=Executed,
    status_code=201,
    summary="Run it now",
    responses=errors(404),
)
async def execute_definition(app: AppDep, definition_id: IdPath) -> dict[str, Any]:
    """Start a run now (a disabled definition too); returns the new top-level job."""
    catalog = _catalog(app)
    _get(catalog, definition_id)
    job = await catalog.execute(definition_id, trigger="api")
    return {"job_id": job.id, "definition": definition_id, "job": job_to_dict(job)}
