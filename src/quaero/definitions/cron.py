"""Cron schedules: checking an expression, its fire times, and which run is due now.

Times are seconds since the epoch; an expression is read in a time zone (IANA name,
``UTC`` by default), so ``0 3 * * *`` in ``Europe/Paris`` fires at 03:00 Paris time
across daylight-saving changes.

:func:`due_slot` is the whole catch-up rule of the scheduler, as a pure function: only
the *latest* fire time counts, so any number of fire times missed while nothing was
running add up to one run.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = ["check_schedule", "check_timezone", "due_slot", "latest_slot", "next_slot"]

ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
HELP = "5 fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *', or @daily"


def check_schedule(expr: str) -> str:
    """The expression with its fields single-spaced; ValueError with a clear message."""
    fields = expr.split()
    text = " ".join(fields)
    if len(fields) == 1 and fields[0].lower() in ALIASES:
        return fields[0].lower()
    if len(fields) != 5:
        raise ValueError(f"{text!r} is not a cron expression ({HELP})")
    if not croniter.is_valid(text):
        raise ValueError(f"{text!r} is not a valid cron expression ({HELP})")
    return text


@functools.lru_cache(maxsize=64)
def check_timezone(name: str) -> ZoneInfo:
    """The time zone ``name`` (e.g. ``UTC``, ``Europe/Paris``); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC)") from None


def _at(now: float, tz: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, check_timezone(tz))


def next_slot(expr: str, tz: str, now: float) -> float:
    """The first fire time strictly after ``now``."""
    return float(croniter(expr, _at(now, tz)).get_next(dt.datetime).timestamp())


def latest_slot(expr: str, tz: str, now: float) -> float:
    """The last fire time at or before ``now``."""
    prev = croniter(expr, _at(now, tz)).get_prev(dt.datetime)
    # get_prev is strictly before its start: ``now`` may itself be a fire time
    after = croniter(expr, prev).get_next(dt.datetime)
    return float((after if after.timestamp() <= now else prev).timestamp())


def due_slot(
    expr: str, tz: str, now: float, *, last_slot: float | None, since: float
) -> float | None:
    """The fire time to run now, or None.

    That is the latest fire time at or before ``now``, if it is later than both the
    fire time of the last scheduled run (``last_slot``) and ``since``, when the schedule
    took effect (a new or edited definition does not run for a time before it existed).
    """
    slot = latest_slot(expr, tz, now)
    if slot <= since or (last_slot is not None and slot <= last_slot):
        return None
    return slot
