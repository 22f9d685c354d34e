"""Event records and the event type names (kept exactly as the seed names them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DOCUMENT_SAVED",
    "GAP",
    "JOB_CREATED",
    "JOB_DELETED",
    "JOB_PROGRESS",
    "JOB_SPAWN",
    "JOB_STATUS_CHANGE",
    "LOG",
    "PARENT_JOB_PROGRESS",
    "Event",
    "NewEvent",
]

JOB_STATUS_CHANGE = "job_status_change"
PARENT_JOB_PROGRESS = "parent_job_progress"
JOB_CREATED = "job_created"
JOB_SPAWN = "job_spawn"
JOB_DELETED = "job_deleted"
JOB_PROGRESS = "job_progress"
LOG = "log"
DOCUMENT_SAVED = "document_saved"
#: not in the log: what a replay from a position it cannot serve delivers first (the bus's
#: counterpart of the WebSocket's ``snapshot``); see :mod:`quaero.events.bus`
GAP = "gap"


@dataclass(slots=True, frozen=True)
class NewEvent:
    """An event to append to the log; its sequence number is assigned on commit."""

    type: str
    job_id: int | None
    root_id: int | None
    payload: dict[str, Any]


@dataclass(slots=True, frozen=True)
class Event:
    """A committed event. ``seq`` is strictly increasing in commit order."""

    seq: int
    type: str
    job_id: int | None
    root_id: int | None
    payload: dict[str, Any]
    created_at: float

    def to_message(self) -> dict[str, Any]:
        """The WebSocket form: ``{"type", "seq", "payload"}``."""
        return {"type": self.type, "seq": self.seq, "payload": self.payload}

    def to_json(self) -> str:
        return json.dumps(self.to_message(), separators=(",", ":"))
