"""REST: ``/healthz``, ``/metrics`` (Prometheus) and ``/api/job-types``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from ..app import App
from .deps import get_app, get_hub, get_metrics, require_token
from .hub import Hub
from .metrics import WebMetrics
from .schemas import JobTypes

__all__ = ["router"]

router = APIRouter(tags=["system"])
AppDep = Annotated[App, Depends(get_app)]


class Health(BaseModel):
    status: Literal["ok"]
    store: str = Field(examples=["sqlite"])
    last_seq: int
    websocket_clients: int


class Unhealthy(BaseModel):
    status: Literal["error"]
    detail: str = Field(examples=["store unavailable: ..."])


@router.get(
    "/healthz",
    summary="Liveness and store check",
    response_model=Health,
    responses={503: {"model": Unhealthy, "description": "The store does not answer."}},
)
async def healthz(app: AppDep, hub: Annotated[Hub, Depends(get_hub)]) -> JSONResponse:
    """200 when the store answers; 503 otherwise. Needs no token (for probes)."""
    try:
        _, last = await app.store.event_bounds()
    except Exception as exc:
        return JSONResponse({"status": "error", "detail": f"store unavailable: {exc}"}, 503)
    return JSONResponse(
        {
            "status": "ok",
            "store": app.store.dialect,
            "last_seq": last,
            "websocket_clients": hub.client_count,
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[Depends(require_token)],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(app: AppDep, m: Annotated[WebMetrics, Depends(get_metrics)]) -> Response:
    body = m.render(await app.store.job_stats())
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/job-types",
    response_model=JobTypes,
    tags=["jobs"],
    summary="Registered job types",
    dependencies=[Depends(require_token)],
)
async def job_types(app: AppDep) -> dict[str, Any]:
    names = app.registry.names()
    return {
        "items": names,
        "details": [{"name": n, "description": app.registry.get(n).description} for n in names],
    }
