"""Why isn't a job done? A read model over the store's indexed facts and the worker registry.

The store gathers :class:`ChildFacts` with bounded index probes (never a scan of a
parent's children: see ``Store.child_facts``); :func:`explain` turns the job, those facts
and the registered workers into a structured answer: machine fields plus ``reasons``
(each a ``kind``, a sentence and its numbers) whose sentences make the ``summary``.

Counts come from the parent's exact counters where they exist (pending, running, ...).
Finer counts (not due yet, retries, per job type) are counted in the index, at most
:data:`COUNT_BUDGET` entries per kind of count shared among the job types (see
:func:`type_cap`); above that they are lower bounds and say so (``exact: false``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .models import Job, JobStatus, iso
from .progress import overall_status
from .worker_registry import WorkerInfo, served_types

__all__ = [
    "COUNT_BUDGET",
    "MAX_TYPES",
    "RUNNING_CAP",
    "ChildFacts",
    "PendingType",
    "RunningChild",
    "explain",
    "pending_type",
    "type_cap",
]

#: index entries one kind of count reads at most, over all job types (PostgreSQL reads
#: ~300 entries per ms when the visibility map is cold, as on a busy table)
COUNT_BUDGET = 2_000
#: ... but at least this many per job type
MIN_TYPE_CAP = 100
#: running children whose rows are read at most
RUNNING_CAP = 2_000
#: distinct job types among pending children that are reported at most
MAX_TYPES = 20


def type_cap(types: int) -> int:
    """How many index entries each count of one of ``types`` job types may read."""
    return max(MIN_TYPE_CAP, COUNT_BUDGET // max(1, types))


@dataclass(slots=True)
class PendingType:
    """Pending children of one job type (counts capped at :func:`type_cap`)."""

    job_type: str
    count: int
    #: of them, not due yet (``available_at`` in the future)
    not_due: int
    #: the earliest future ``available_at`` (None: all due)
    next_available_at: float | None
    #: of the not-due ones, those that already ran (a retry waiting for its backoff)
    retries: int
    next_retry_at: float | None
    exact: bool = True


def pending_type(
    job_type: str,
    cap: int,
    count: int,
    not_due: int,
    next_available_at: float | None,
    retries: int | None,
    next_retry_at: float | None,
) -> PendingType:
    """A :class:`PendingType` from counts read with ``LIMIT cap + 1`` (more than ``cap``
    read: the count is a lower bound)."""
    return PendingType(
        job_type,
        min(count, cap),
        min(not_due, cap),
        next_available_at,
        min(int(retries or 0), cap),
        next_retry_at,
        exact=count <= cap and not_due <= cap,
    )


@dataclass(slots=True)
class RunningChild:
    id: int
    job_type: str
    lease_owner: str | None
    heartbeat_at: float | None
    lease_expires_at: float | None
    #: its handler returned; it waits for its own children
    waiting: bool


@dataclass(slots=True)
class ChildFacts:
    """What the store found about a parent's active children, by index probes only."""

    pending: list[PendingType] = field(default_factory=list)
    #: False when there were more than :data:`MAX_TYPES` pending job types
    pending_types_complete: bool = True
    #: running children in id order, at most :data:`RUNNING_CAP`
    running: list[RunningChild] = field(default_factory=list)


def _age(seconds: float) -> str:
    s = abs(seconds)
    if s < 1:
        text = f"{s * 1000:.0f} ms"
    elif s < 120:
        text = f"{s:.1f} s"
    elif s < 7200:
        text = f"{s / 60:.0f} min"
    else:
        text = f"{s / 3600:.1f} h"
    return text


def _n(count: int, exact: bool) -> str:
    return f"{count:,}" if exact else f"at least {count:,}"


def _children_word(n: int) -> str:
    return "child" if n == 1 else "children"


def _slots(
    live: Sequence[WorkerInfo], job_types: Collection[str], seen: Collection[str | None] = ()
) -> tuple[int, int]:
    """Slots in use and slots of the live workers claiming any of ``job_types``. A
    worker's running count is its last heartbeat's (up to ``lease_seconds / 3`` old), or
    more when more of ``seen`` (lease owners of running jobs just read) are its."""
    serving = [w for w in live if not set(w.job_types).isdisjoint(job_types)]
    owners = Counter(seen)
    return sum(max(w.running, owners[w.id]) for w in serving), sum(w.concurrency for w in serving)


def _busy_text(in_use: int, slots: int, whose: str) -> str:
    """Said only when every slot is busy: a free slot by a heartbeat's count may be one
    taken since, so it proves nothing."""
    if not slots or in_use < slots:
        return ""
    return f"; every slot of the live workers serving {whose} is busy ({in_use:,} of {slots:,})"


def _reason(kind: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, **fields}


def explain(
    job: Job,
    facts: ChildFacts | None,
    workers: Sequence[WorkerInfo],
    now: float,
    *,
    external_types: Collection[str] = (),
) -> dict[str, Any]:
    """The answer to "why isn't job ``job`` done?" (the shape of ``GET .../explain``).

    ``facts`` are its children's facts (None when it has no active children),
    ``workers`` every registered worker (live or not), ``external_types`` the job types
    that may be served only by worker processes of another program.
    """
    live = [w for w in workers if w.live(now)]
    served = served_types(workers, now)
    by_id = {w.id: w for w in workers}
    reasons: list[dict[str, Any]] = []
    c = job.children
    overall = overall_status(job.status, c)

    def type_reason(job_type: str, count: int, exact: bool, own: bool) -> None:
        if job_type in served:
            return
        external = job_type in external_types
        where = " (an external type: run a worker that registers it)" if external else ""
        if own:
            kind, message = "type_unserved", f"It is of type {job_type!r}"
        else:
            kind = "children_type_unserved"
            message = (
                f"{_n(count, exact)} pending {_children_word(count)} "
                f"{'is' if count == 1 and exact else 'are'} of type {job_type!r}"
            )
        reasons.append(
            _reason(
                kind,
                f"{message}, which no live worker serves{where}",
                job_type=job_type,
                count=count,
                exact=exact,
                external=external,
            )
        )

    handler: dict[str, Any] | None = None
    if job.is_terminal:
        reasons.append(
            _reason(
                "done",
                f"It is done: {job.status.value}"
                + (f" at {_when(job.completed_at)}" if job.completed_at else "")
                + _why_done(job),
                status=job.status.value,
            )
        )
    elif job.status is JobStatus.PENDING:
        if job.available_at > now:
            what = "a retry" if job.attempts > 0 else "it"
            reasons.append(
                _reason(
                    "not_due",
                    f"It is pending: {what} is not due until {_when(job.available_at)} "
                    f"(in {_age(job.available_at - now)})",
                    available_at=iso(job.available_at),
                    retry=job.attempts > 0,
                )
            )
        else:
            in_use, slots = _slots(live, (job.job_type,))
            reasons.append(
                _reason(
                    "waiting_for_worker",
                    f"It is pending and due since {_age(now - job.available_at)}: "
                    "waiting for a worker to claim it"
                    + _busy_text(in_use, slots, repr(job.job_type)),
                    available_at=iso(job.available_at),
                    slots=slots,
                    slots_in_use=in_use,
                )
            )
        if live:
            type_reason(job.job_type, 1, True, own=True)
    elif not job.waiting:  # running: its own handler
        worker = by_id.get(job.lease_owner or "")
        expired = job.lease_expires_at is not None and job.lease_expires_at < now
        hb_age = now - job.heartbeat_at if job.heartbeat_at is not None else None
        handler = {
            "worker_id": job.lease_owner,
            "worker_live": worker is not None and worker.live(now),
            "heartbeat_at": iso(job.heartbeat_at),
            "heartbeat_age_seconds": None if hb_age is None else round(hb_age, 3),
            "lease_expires_at": iso(job.lease_expires_at),
            "lease_expired": expired,
            "attempt": job.attempts,
            "max_attempts": job.max_attempts,
        }
        if expired:
            reasons.append(
                _reason(
                    "lease_expired",
                    f"Its handler's lease (worker {job.lease_owner}) expired "
                    f"{_age(now - (job.lease_expires_at or now))} ago: the worker is gone, "
                    "and the next reaper pass (any live worker) will "
                    + (
                        "fail it (last attempt)"
                        if job.attempts >= job.max_attempts
                        else "put it back to pending"
                    ),
                    worker_id=job.lease_owner,
                )
            )
        else:
            live_note = (
                "" if handler["worker_live"] else " (that worker is not in the live registry)"
            )
            reasons.append(
                _reason(
                    "handler_running",
                    f"Its own handler is still running on worker {job.lease_owner}{live_note}, "
                    f"attempt {job.attempts}/{job.max_attempts}, last heartbeat "
                    f"{_age(hb_age or 0.0)} ago",
                    worker_id=job.lease_owner,
                    heartbeat_age_seconds=handler["heartbeat_age_seconds"],
                )
            )
    children = _children(job, facts, now, live, reasons, type_reason)
    if job.waiting and not job.is_terminal and c.active == 0:
        reasons.append(
            _reason(
                "finishing",
                "Its handler returned and all its children are finished: it is being "
                f"completed now (as {overall.value})",
            )
        )
    if not job.is_terminal and not live:
        reasons.insert(
            0,
            _reason(
                "no_live_worker",
                "No live worker at all: start one (quaero worker, or quaero serve)",
            ),
        )
    return {
        "job_id": job.id,
        "status": job.status.value,
        "overall_status": overall.value,
        "done": job.is_terminal,
        "waiting_for_children": job.waiting,
        "summary": [r["message"] for r in reasons],
        "reasons": reasons,
        "handler": handler,
        "children": children,
        "workers": {
            "live": len(live),
            "registered": len(workers),
            "job_types": sorted(served),
        },
        "generated_at": iso(now),
    }


def _children(
    job: Job,
    facts: ChildFacts | None,
    now: float,
    live: Sequence[WorkerInfo],
    reasons: list[dict[str, Any]],
    type_reason: Callable[..., None],
) -> dict[str, Any]:
    served = served_types(live, now)
    c = job.children
    out: dict[str, Any] = {"counts": c.as_dict(), "pending": None, "running": None}
    if facts is None or c.active == 0:
        return out
    if c.pending:
        not_due = sum(t.not_due for t in facts.pending)
        retries = sum(t.retries for t in facts.pending)
        exact = facts.pending_types_complete and all(t.exact for t in facts.pending)
        nexts = [t.next_available_at for t in facts.pending if t.next_available_at is not None]
        retry_nexts = [t.next_retry_at for t in facts.pending if t.next_retry_at is not None]
        next_at = min(nexts) if nexts else None
        next_retry = min(retry_nexts) if retry_nexts else None
        due = max(0, c.pending - not_due) if exact else None
        out["pending"] = {
            "count": c.pending,
            "due": due,
            "not_due": not_due,
            "exact": exact,
            "next_available_at": iso(next_at),
            "retries_scheduled": retries,
            "next_retry_at": iso(next_retry),
            "by_type": [
                {
                    "job_type": t.job_type,
                    "count": t.count,
                    "not_due": t.not_due,
                    "exact": t.exact,
                    "next_available_at": iso(t.next_available_at),
                    "served": t.job_type in served,
                }
                for t in facts.pending
            ],
            "types_complete": facts.pending_types_complete,
        }
        msg = f"{c.pending:,} {_children_word(c.pending)} pending"
        if not_due:
            msg += (
                f", of which {_n(not_due, exact)} not due yet (next at {_when(next_at)}, "
                f"in {_age((next_at or now) - now)})"
            )
        elif served:
            owners = [r.lease_owner for r in facts.running]
            in_use, slots = _slots(live, [t.job_type for t in facts.pending], owners)
            msg += ", all due: waiting for a free worker slot" + _busy_text(in_use, slots, "them")
        reasons.append(
            _reason(
                "children_pending",
                msg,
                count=c.pending,
                not_due=not_due,
                exact=exact,
                next_available_at=iso(next_at),
            )
        )
        if retries:
            reasons.append(
                _reason(
                    "children_retries_scheduled",
                    f"{_n(retries, exact)} retries scheduled, the next at {_when(next_retry)} "
                    f"(in {_age((next_retry or now) - now)})",
                    count=retries,
                    exact=exact,
                    next_retry_at=iso(next_retry),
                )
            )
        if served:  # with no live worker at all, that is the one reason given
            for t in facts.pending:
                type_reason(t.job_type, t.count, t.exact, own=False)
    if c.running:
        out["running"] = _running(c.running, facts.running, now, reasons)
    return out


def _running(
    count: int, rows: list[RunningChild], now: float, reasons: list[dict[str, Any]]
) -> dict[str, Any]:
    handlers = [r for r in rows if not r.waiting]
    waiting = [r for r in rows if r.waiting]
    expired = [r for r in handlers if r.lease_expires_at is not None and r.lease_expires_at < now]
    beats = [r.heartbeat_at for r in handlers if r.heartbeat_at is not None]
    oldest = min(beats) if beats else None
    complete = len(rows) >= count
    info = {
        "count": count,
        "scanned": len(rows),
        "exact": complete,
        "handlers_running": len(handlers),
        "waiting_for_children": len(waiting),
        "oldest_heartbeat_at": iso(oldest),
        "oldest_heartbeat_age_seconds": None if oldest is None else round(now - oldest, 3),
        "expired_leases": len(expired),
        "expired_job_ids": [r.id for r in expired[:10]],
        "waiting_job_ids": [r.id for r in waiting[:10]],
        "workers": sorted({r.lease_owner for r in handlers if r.lease_owner}),
    }
    parts = [f"{count:,} {_children_word(count)} running"]
    if handlers:
        parts.append(
            f"{_n(len(handlers), complete)} in their handlers (oldest heartbeat "
            f"{_age(now - oldest) if oldest is not None else 'unknown'} ago)"
        )
    if waiting:
        parts.append(
            f"{_n(len(waiting), complete)} waiting for their own children "
            f"(ask why job {waiting[0].id})"
        )
    reasons.append(
        _reason(
            "children_running",
            ": ".join(parts[:1]) + (": " + "; ".join(parts[1:]) if parts[1:] else ""),
            count=count,
            handlers_running=len(handlers),
            waiting_for_children=len(waiting),
        )
    )
    if expired:
        reasons.append(
            _reason(
                "children_leases_expired",
                f"The leases of {_n(len(expired), complete)} running "
                f"{_children_word(len(expired))} already expired (their worker is gone): "
                f"waiting for the reaper to requeue them (e.g. job {expired[0].id})",
                count=len(expired),
                exact=complete,
            )
        )
    return info


def _when(ts: float | None) -> str:
    """A time in a sentence: ``2026-11-30 12:00:35 UTC`` (the machine fields keep ISO)."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _why_done(job: Job) -> str:
    """Why a finished job ended as it did: its own error, or its children's outcome."""
    if job.status is JobStatus.FAILED and job.error:
        return f" ({job.error})"
    c = job.children
    if job.status is JobStatus.COMPLETED or not c.total:
        return ""
    parts = [f"{c.failed:,} failed"] if c.failed else []
    if c.cancelled:
        parts.append(f"{c.cancelled:,} cancelled")
    return f" because of its children: {' and '.join(parts)} of {c.total:,}" if parts else ""
