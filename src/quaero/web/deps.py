"""What every router shares: the App from the request, the token check, error responses."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import (
    InvalidArgument,
    InvalidJobSpec,
    InvalidTransition,
    JobNotFound,
    JobStateError,
    QuaeroError,
    StoreError,
)
from .redact import TOKEN_QUERY_NAME

if TYPE_CHECKING:
    from ..app import App
    from ..config import Settings
    from .hub import Hub
    from .metrics import WebMetrics

__all__ = [
    "BodyLimit",
    "get_app",
    "get_hub",
    "get_metrics",
    "install_error_handlers",
    "require_token",
    "token_ok",
]

log = logging.getLogger(__name__)


def get_app(request: Request) -> App:
    app: App = request.app.state.quaero
    return app


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def get_metrics(request: Request) -> WebMetrics:
    metrics: WebMetrics = request.app.state.metrics
    return metrics


def token_ok(settings: Settings, authorization: str | None, query_token: str | None) -> bool:
    """True when no token is configured, or the request carries it (header or ?token=)."""
    expected = settings.server.api_token
    if not expected:
        return True
    given = query_token or ""
    if authorization and authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    return secrets.compare_digest(given.encode(), expected.encode())


async def require_token(request: Request) -> None:
    """Dependency of every API route: 401 unless the configured token is presented."""
    settings: Settings = request.app.state.settings
    if not token_ok(
        settings, request.headers.get("authorization"), request.query_params.get(TOKEN_QUERY_NAME)
    ):
        raise HTTPException(
            401, "missing or invalid API token", headers={"WWW-Authenticate": "Bearer"}
        )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON"
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path")]
        where = ".".join(loc)
        kind = err.get("loc", ("",))[0]
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        if err.get("type") == "missing":
            msg = "required"
        parts.append(f"{kind} {where}: {msg}" if where else f"{kind}: {msg}")
    return "; ".join(parts) or "invalid request"


_ERROR_STATUS: list[tuple[type[QuaeroError], int]] = [
    (JobNotFound, 404),
    (InvalidArgument, 422),
    (InvalidJobSpec, 422),
    (InvalidTransition, 409),
    (JobStateError, 409),
    (StoreError, 503),
]


def install_error_handlers(api: FastAPI) -> None:
    """Every error becomes ``{"detail": "<clear message>"}``; never a stack trace."""

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message = _validation_message(exc)
        status = 400 if message == "request body is not valid JSON" else 422
        return JSONResponse({"detail": message}, status)

    async def quaero_error(_: Request, exc: Exception) -> JSONResponse:
        status = 400
        for cls, code in _ERROR_STATUS:
            if isinstance(exc, cls):
                status = code
                break
        return JSONResponse({"detail": str(exc)}, status)

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, 500)

    api.add_exception_handler(StarletteHTTPException, http_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(QuaeroError, quaero_error)
    api.add_exception_handler(Exception, internal_error)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before the app sees it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Callable[[MutableMapping[str, Any]], Awaitable[None]], n: int) -> None:
    body = f'{{"detail":"request body too large (limit {n} bytes)"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
