"""Path and query parameters every router shares, with the bounds a store can hold.

Use these instead of a bare ``int`` for anything that reaches the store: an id or an
offset of 2**63 or more (or a negative one) is then a 422 ``{"detail": "<sentence>"}``
and the OpenAPI document states the range.

>>> @router.get("/{job_id}")
... async def get_job(app: AppDep, job_id: JobIdPath, offset: OffsetQuery = 0): ...
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import HTTPException, Path, Query

from ..bounds import MAX_INT, parse_id
from ..errors import InvalidArgument

__all__ = [
    "Direction",
    "DocumentIdPath",
    "JobIdPath",
    "JobIdQuery",
    "OffsetQuery",
    "parse_cursor",
    "parse_parent",
]

#: a job id in the path: 1 .. 2**63-1
JobIdPath = Annotated[int, Path(ge=1, le=MAX_INT, description="a job id")]
#: a document id in the path: 1 .. 2**63-1
DocumentIdPath = Annotated[int, Path(ge=1, le=MAX_INT, description="a document id")]
#: an optional job id filter in the query string
JobIdQuery = Annotated[int | None, Query(ge=1, le=MAX_INT, description="a job id")]
#: how many items to skip: 0 .. 2**63-1
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_INT, description="items to skip")]
Direction = Literal["asc", "desc"]


def parse_parent(parent_id: str | None) -> int | str | None:
    """``?parent_id=root`` (top-level jobs), a job id, or None (empty: any parent)."""
    if parent_id is None or parent_id == "":
        return None
    if parent_id == "root":
        return "root"
    try:
        return parse_id(parent_id, "parent_id")
    except InvalidArgument:
        raise HTTPException(
            422, f"parent_id must be 'root' or a job id (1 to {MAX_INT}), got {parent_id[:30]!r}"
        ) from None


def parse_cursor(cursor: str | None) -> int | None:
    """A ``next_cursor`` from a previous page (a log id), or None."""
    if cursor is None or cursor == "":
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19 or int(cursor) > MAX_INT:
        raise HTTPException(
            422, f"invalid cursor {cursor[:40]!r} (use next_cursor from a response)"
        )
    return int(cursor)
