"""Row decoding shared by the backends: both select jobs in the same column order."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ..bounds import MAX_INT, MIN_INT
from ..jobs.models import Counters, Job, JobStatus

__all__ = ["STATUS_END_LINES", "STATUS_RUN_LINES", "dumps_json", "job_from_row"]

#: the status lines a job row stands for instead of log rows (a job's first
#: ``Status changed: running`` and its final status line without a reason), read back as
#: log rows ``(id, job_id, root_id, ts, level, message)``; ``{where}`` filters the jobs.
#: The same SQL on both backends (SQLite since issue 9, PostgreSQL migration 0016).
STATUS_RUN_LINES = """
SELECT run_log_id, id, root_id, started_at, 'info', 'Status changed: running'
FROM jobs WHERE {where}
"""
STATUS_END_LINES = """
SELECT end_log_id, id, root_id, completed_at,
       CASE status WHEN 'failed' THEN 'error' ELSE 'info' END, 'Status changed: ' || status
FROM jobs WHERE {where}
"""


#: JobStatus by stored value (a dict lookup is several times cheaper than JobStatus(v))
_STATUS = {s.value: s for s in JobStatus}


def job_from_row(r: Sequence[Any], decode: Callable[[Any], Any] | None = None) -> Job:
    """A job from a row of the backends' ``JOB_COLUMNS``.

    ``decode`` turns a stored JSON column into a value; without it the JSON columns
    (config, metadata, result, progress) are not decoded, which is all a status change
    needs (its writes never touch them).
    """
    job = Job(
        id=r[0],
        parent_id=r[1],
        root_id=r[2],
        depth=r[3],
        job_type=r[4],
        name=r[5],
        status=_STATUS[r[8]],
        attempts=r[9],
        max_attempts=r[10],
        lease_owner=r[11],
        lease_expires_at=r[12],
        heartbeat_at=r[13],
        available_at=r[14],
        created_at=r[15],
        started_at=r[16],
        completed_at=r[17],
        error=r[18],
        result_count=r[20],
        waiting=bool(r[22]),
        dedupe_key=r[23],
        progress_logged_at=r[24],
        children=Counters(r[25], r[26], r[27], r[28], r[29], r[30]),
    )
    if len(r) > 31:
        job.error_group = r[31]
        job.descendants = Counters(r[32], r[33], r[34], r[35], r[36], r[37])
        job.progress_samples = orjson.loads(r[38]) if r[38] and r[38] != "[]" else []
    if decode is not None:
        job.config = decode(r[6]) if r[6] is not None else {}
        job.metadata = decode(r[7]) if r[7] is not None else {}
        job.result = decode(r[19]) if r[19] is not None else None
        job.progress = decode(r[21]) if r[21] is not None else None
    return job


_JSON_OPTS = orjson.OPT_NON_STR_KEYS


def dumps_json(value: Any) -> str:
    """JSON for a store column or an event payload. Values JSON cannot carry become
    strings (``default=str``), and so do integers outside signed 64 bits (a handler's
    result or progress may hold one; other readers of the column parse JSON integers as
    int64); NUL characters become U+FFFD (JSONB cannot hold them): a job's outcome is
    always storable, never a failed commit."""
    try:
        text = orjson.dumps(value, default=str, option=_JSON_OPTS).decode()
    except TypeError:  # "Integer exceeds 64-bit range" (orjson checks before default)
        text = orjson.dumps(_big_ints_to_str(value), default=str, option=_JSON_OPTS).decode()
    if "\\u0000" in text:  # JSONB cannot hold NUL: the same replacement as clean_text
        text = _JSON_NUL.sub(r"\1\\ufffd", text)
    return text


#: an escaped NUL in JSON text (an odd number of backslashes before u0000)
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _big_ints_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if MIN_INT <= value <= MAX_INT else str(value)
    if isinstance(value, dict):
        return {k: _big_ints_to_str(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_to_str(v) for v in value]
    return value
