"""A compact stored form of the two event types a child makes by the hundred thousand.

A ``job_status_change`` payload repeats the row's ``job_id`` and its time (the event's
``created_at`` as ISO text); a ``parent_job_progress`` payload also repeats its counts as
``progress_text``. Stored as JSON objects they are about 110 and 280 bytes. The embedded
store keeps them as a JSON array of the other values instead (``["completed", "noop",
1]``: about 25 bytes) and rebuilds the exact payload, keys in their usual order, when it
reads them. The encoding is lossless or not used: a payload whose derived fields do not
match (or that lacks a field) is stored as it is, and extra fields ride along in a
trailing object. A stored payload that is a JSON object is always read as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..events.types import JOB_STATUS_CHANGE, PARENT_JOB_PROGRESS
from ..jobs.models import Counters, iso
from ..jobs.progress import progress_text

__all__ = ["decode_payload", "encode_payload"]

#: every key of the payload, in order; the derived ones are not stored
_TEMPLATES: dict[str, tuple[str, ...]] = {
    JOB_STATUS_CHANGE: ("job_id", "status", "job_type", "parent_id", "timestamp"),
    PARENT_JOB_PROGRESS: (
        "job_id",
        "progress_text",
        "status",
        "timestamp",
        "total_children",
        "pending_children",
        "running_children",
        "completed_children",
        "failed_children",
        "cancelled_children",
    ),
}
_DERIVED = frozenset({"job_id", "progress_text", "timestamp"})
_STORED = {t: tuple(k for k in keys if k not in _DERIVED) for t, keys in _TEMPLATES.items()}
_COUNTS = (
    "total_children",
    "pending_children",
    "running_children",
    "completed_children",
    "failed_children",
    "cancelled_children",
)


def _text(p: dict[str, Any]) -> str:
    return progress_text(Counters(*(int(p[k]) for k in _COUNTS)))


def encode_payload(
    type_: str,
    job_id: int | None,
    payload: dict[str, Any],
    timestamp: str | None,
    dumps: Callable[[Any], str],
) -> str:
    """The stored text of an event payload; ``timestamp`` is ``iso(created_at)``."""
    template = _TEMPLATES.get(type_)
    if (
        template is None
        or payload.get("job_id") != job_id
        or payload.get("timestamp") != timestamp
        or any(k not in payload for k in template)
    ):
        return dumps(payload)
    if type_ == PARENT_JOB_PROGRESS:
        try:
            if payload["progress_text"] != _text(payload):
                return dumps(payload)
        except (TypeError, ValueError):
            return dumps(payload)
    values: list[Any] = [payload[k] for k in _STORED[type_]]
    extra = {k: v for k, v in payload.items() if k not in template}
    if extra:
        values.append(extra)
    return dumps(values)


def decode_payload(
    type_: str,
    job_id: int | None,
    created_at: float,
    stored: str | bytes,
    loads: Callable[[Any], Any],
) -> dict[str, Any]:
    """The payload an event was written with (see :func:`encode_payload`)."""
    value = loads(stored)
    if isinstance(value, dict):
        return value
    stored_keys = _STORED[type_]
    known = dict(zip(stored_keys, value, strict=False))
    out: dict[str, Any] = {}
    for key in _TEMPLATES[type_]:
        if key == "job_id":
            out[key] = job_id
        elif key == "timestamp":
            out[key] = iso(created_at)
        elif key == "progress_text":
            out[key] = None  # filled below, once the counts are in
        else:
            out[key] = known[key]
    if "progress_text" in out:
        out["progress_text"] = _text(out)
    if len(value) > len(stored_keys):
        out.update(value[len(stored_keys)])
    return out
