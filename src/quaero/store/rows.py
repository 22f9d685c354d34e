"""Row decoding shared by the backends: both select jobs in the same column order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ..jobs.models import Counters, Job, JobStatus

__all__ = ["job_from_row"]


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
        status=JobStatus(r[8]),
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
        job.progress_samples = orjson.loads(r[38]) if r[38] else []
    if decode is not None:
        job.config = decode(r[6]) if r[6] is not None else {}
        job.metadata = decode(r[7]) if r[7] is not None else {}
        job.result = decode(r[19]) if r[19] is not None else None
        job.progress = decode(r[21]) if r[21] is not None else None
    return job
