"""What the CLI prints about jobs: durations, the children summary, failures by reason,
and tables that stay whole off a terminal.

On a terminal a table is drawn by rich and fitted to its width (long cells folded);
piped or redirected, every row is printed in full, tab-separated, so ``grep``, ``cut``
and ``awk`` see whole URLs and errors.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..jobs.models import Counters, Job, JobStatus
from ..jobs.progress import progress_text
from ..store.base import JobQuery, Store

__all__ = [
    "children_text",
    "failure_reasons",
    "fmt_duration",
    "job_duration",
    "print_rows",
    "reasons_text",
]

#: failed children read at most for a breakdown by reason (a page at a time)
MAX_FAILURES_READ = 100_000
_PAGE = 500


def fmt_duration(seconds: float | None) -> str:
    """``1.2s``, ``3m04s``, ``2h05m``, ``3d04h``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def job_duration(job: Job, now: float | None = None) -> float | None:
    """Seconds from its start to its end (to now while it runs); None before it started."""
    if job.started_at is None:
        return None
    end = job.completed_at if job.completed_at is not None else (now or time.time())
    return max(0.0, end - job.started_at)


def children_text(c: Counters) -> str:
    """The seed's progress text, plus ``, N cancelled`` when any child was cancelled."""
    text = progress_text(c)
    return f"{text}, {c.cancelled} cancelled" if c.cancelled else text


async def failure_reasons(store: Store, parent_id: int) -> Counter[str]:
    """The failed direct children of ``parent_id`` counted by reason (the error's prefix:
    ``http_503: ...`` → ``http_503``)."""
    reasons: Counter[str] = Counter()
    offset = 0
    while offset < MAX_FAILURES_READ:
        page = await store.list_jobs(
            JobQuery(
                statuses=[JobStatus.FAILED],
                parent_id=parent_id,
                limit=_PAGE,
                offset=offset,
                order_by="id",
                descending=False,
            )
        )
        for job in page.items:
            reasons[(job.error or "").partition(":")[0].strip()[:100] or "unknown"] += 1
        offset += len(page.items)
        if len(page.items) < _PAGE:
            break
    return reasons


#: "reason TIMES count", as the issue's example writes it
TIMES = "\u00d7"


def reasons_text(reasons: Counter[str]) -> str:
    """``http_503 TIMES13, timeout TIMES2`` (most frequent first)."""
    return ", ".join(f"{reason} {TIMES}{n}" for reason, n in reasons.most_common())


#: columns that never wrap (short fields: ids, statuses, times)
NO_WRAP = ("id", "status", "duration", "created", "next run", "docs", "pid", "slots", "running")
#: the narrowest a wrapping column gets (its longest value if shorter)
READABLE = 12


def print_rows(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    fold: Sequence[str] = (),
    optional: Sequence[str] = (),
) -> None:
    """A table on a terminal (``fold`` columns wrap instead of widening it); off a
    terminal a header line and one tab-separated line per row, nothing cut.

    On a terminal too narrow for every column at a readable width, the ``optional``
    columns are left out in that order (the caption names them) rather than squeezing
    the others to a few characters each."""
    if not sys.stdout.isatty():
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(_flat(v) for v in row))
        return
    console = Console()
    cells = [[_flat(v) for v in row] for row in rows]
    floor = {}  # each column's narrowest readable width
    for i, col in enumerate(columns):
        longest = max([len(col), *(len(r[i]) for r in cells)])
        floor[col] = longest if col in NO_WRAP else min(longest, READABLE)
    shown = list(columns)
    left_out: list[str] = []
    for col in optional:
        if 1 + sum(floor[c] + 3 for c in shown) <= console.width:  # 3: borders, padding
            break
        shown.remove(col)
        left_out.append(col)
    caption = (
        f"not shown at this width: {', '.join(left_out)} (widen the terminal, or pipe it)"
        if left_out
        else None
    )
    table = Table(title=title, caption=caption)
    for col in shown:
        # long free text folds; short fields (status, times) stay on one line
        table.add_column(
            col,
            overflow="fold" if col in fold else "ellipsis",
            no_wrap=col in NO_WRAP,
            min_width=floor[col],
        )
    keep = [columns.index(c) for c in shown]
    for row in cells:
        # Text, not str: a name or URL with "[/]" in it is not rich markup
        table.add_row(*(Text(row[i]) for i in keep))
    console.print(table)


def _flat(value: Any) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()) if ("\n" in text or "\t" in text) else text
