"""The ASGI app: REST API, WebSocket ``/ws`` and the dashboard, on one quaero App.

>>> api = create_app(App(db="sqlite:///./data/quaero.db"))   # uvicorn quaero.web:api ...

The lifespan opens the App (store, event bus), starts the WebSocket hub and, unless
``workers=False``, a worker pool in the same process; on shutdown it stops them in
reverse order (running jobs finish or are released for another worker).

Routers are one module each (``api_jobs``, ``api_system``, ``ws``); a new area of the API
(documents, ...) is a new ``api_<noun>.py`` with a ``router``, added to :data:`ROUTERS`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from ..app import App
from ..config import Settings
from ..jobs.worker import Worker
from . import api_definitions, api_documents, api_jobs, api_system, api_workers, ws
from .deps import BodyLimit, install_error_handlers
from .hub import Hub
from .metrics import WebMetrics
from .openapi import install_openapi
from .security import SecurityGuard

__all__ = ["ROUTERS", "STATIC_DIR", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

#: every router of the app, in the order they are mounted
ROUTERS: list[APIRouter] = [
    api_jobs.router,
    api_documents.router,
    api_definitions.router,
    api_system.router,
    api_workers.router,
    ws.router,
]


def create_app(
    app: App | None = None,
    *,
    settings: Settings | None = None,
    workers: bool | None = None,
    manage_app: bool = True,
) -> FastAPI:
    """The ASGI app serving ``app`` (a new :class:`App` from ``settings`` if None).

    ``workers`` runs a worker pool in this process (default: ``[server] workers``).
    ``manage_app=False`` leaves opening and closing the App to the caller.
    """
    qapp = app or App(settings)
    settings = qapp.settings
    run_workers = settings.server.workers if workers is None else workers
    metrics = WebMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        if manage_app:
            await qapp.open()
        hub = Hub(qapp, settings.websocket, metrics)
        api.state.hub = hub
        await hub.start()
        qapp.manager.on_claim = metrics.on_claim
        worker: Worker | None = None
        if run_workers:
            worker = qapp.worker()
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await hub.stop()
            if manage_app:
                await qapp.close()

    api = FastAPI(
        title="quaero",
        summary="Durable hierarchical jobs with live progress",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # our own page (below): the default one loads Swagger UI from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.state.quaero = qapp
    api.state.settings = settings
    api.state.metrics = metrics
    install_error_handlers(api)
    for router in ROUTERS:
        api.include_router(router)
    _mount_dashboard(api)
    install_openapi(api)
    api.add_middleware(BodyLimit, max_bytes=settings.server.max_body_bytes)
    api.add_middleware(SecurityGuard, server=settings.server)  # outermost: runs first
    return api


def _mount_dashboard(api: FastAPI) -> None:
    index = STATIC_DIR / "index.html"

    @api.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    @api.get("/docs", include_in_schema=False)
    async def api_docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})

    @api.get("/jobs", include_in_schema=False)
    async def jobs_redirect() -> RedirectResponse:
        return RedirectResponse("/#/jobs")

    api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quaero")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0"
