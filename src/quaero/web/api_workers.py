"""REST: ``GET /api/workers`` (the worker registry) and ``GET /api/jobs/{id}/explain``."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ..app import App
from ..jobs.worker_registry import served_types, worker_to_dict
from .deps import get_app, require_token
from .params import JobIdPath
from .schemas import errors
from .schemas_explain import ExplainOut, WorkerPage

__all__ = ["router"]

router = APIRouter(tags=["workers"], dependencies=[Depends(require_token)])
AppDep = Annotated[App, Depends(get_app)]


@router.get("/api/workers", response_model=WorkerPage, summary="Worker processes")
async def list_workers(
    app: AppDep,
    include_expired: Annotated[
        bool, Query(description="also workers that stopped heartbeating (not yet forgotten)")
    ] = False,
) -> dict[str, Any]:
    """The worker registry: every live worker process with its host, pid, concurrency,
    job types, running count and last heartbeat (oldest first)."""
    workers = await app.workers(include_expired=include_expired)
    now = time.time()
    return {
        "items": [worker_to_dict(w, now) for w in workers],
        "live": sum(1 for w in workers if w.live(now)),
        "job_types": sorted(served_types(workers, now)),
    }


@router.get(
    "/api/jobs/{job_id:id}/explain",
    response_model=ExplainOut,
    tags=["jobs"],
    summary="Why not done",
    responses=errors(404),
)
async def explain_job(app: AppDep, job_id: JobIdPath) -> dict[str, Any]:
    """Why the job is not done yet: its own handler (worker, heartbeat age, expired
    lease), its pending children (not due yet, retries scheduled, types no live worker
    serves), its running children (oldest heartbeat, expired leases, sub-parents waiting)
    and the live workers; ``summary`` in sentences, ``reasons`` with their numbers.
    Indexed reads only: fast on a parent with millions of children. 404 if no such job."""
    return await app.explain(job_id)
