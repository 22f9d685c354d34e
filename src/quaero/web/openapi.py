"""The OpenAPI document, made exact for every route (present and future).

FastAPI declares validation errors in its own list format and knows nothing of the
errors that middleware and dependencies answer. :func:`install_openapi` replaces
``api.openapi`` with a generator that adds, to every operation, the errors it can
really answer, all as ``{"detail": "<sentence>"}`` (:class:`~.schemas.ErrorOut`):

- 403 everywhere (the Host and Origin checks of ``security.py``) and 503 (the store);
- 422 when the operation has parameters or a body; 400 and 413 when it has a body;
- 401 when the route depends on ``require_token`` (its security schemes are declared).

Route-specific errors (404, 409, ...) are declared by the routes: ``responses=errors(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .schemas import ERROR_DESCRIPTIONS

__all__ = ["install_openapi"]

_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _error(code: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": _ERROR_REF}},
    }


def build_openapi(api: FastAPI) -> dict[str, Any]:
    """The document of ``api`` with the shared error responses (see the module doc)."""
    doc = get_openapi(
        title=api.title,
        version=api.version,
        summary=api.summary,
        description=api.description,
        routes=api.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "ErrorOut",
        {
            "title": "ErrorOut",
            "description": "Every error response: one sentence saying what is wrong.",
            "type": "object",
            "properties": {"detail": {"type": "string", "title": "Detail"}},
            "required": ["detail"],
        },
    )
    for item in doc.get("paths", {}).values():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            codes = [403, 503]
            if op.get("parameters") or op.get("requestBody"):
                codes.append(422)
                responses.pop("422", None)  # FastAPI's list format: not what we answer
            if op.get("requestBody"):
                codes += [400, 413]
            if op.get("security"):
                codes.append(401)
            for code in codes:
                responses.setdefault(str(code), _error(code))
            op["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def install_openapi(api: FastAPI) -> None:
    """Serve :func:`build_openapi`'s document at ``api.openapi_url`` (built once)."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = build_openapi(api)
        return api.openapi_schema

    setter: Callable[[], dict[str, Any]] = openapi
    api.openapi = setter  # type: ignore[method-assign]
