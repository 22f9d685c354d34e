"""``quaero jobs ls|show|logs|cancel|delete|rerun`` (retry, errors, bulk: ``jobs_operate``)."""

from __future__ import annotations

import json

import click

from ..bounds import parse_id
from ..errors import InvalidArgument
from ..jobs.models import JobStatus, iso, job_to_dict
from ..store.base import JOB_ORDER_KEYS, LOG_LEVELS, JobQuery, LogQuery
from .follow import follow_logs, log_line
from .main import JOB_ID, NOT_FOUND, OFFSET, Ctx, cli, fail, make_app, print_json, run_async
from .output import (
    children_text,
    failure_reasons,
    fmt_duration,
    job_duration,
    print_rows,
    reasons_text,
)

__all__ = ["jobs"]


@cli.group()
def jobs() -> None:
    """List and manage jobs."""


def _when(ts: float | None) -> str:
    s = iso(ts)
    return s[:19].replace("T", " ") if s else "-"


@jobs.command("ls")
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice([s.value for s in JobStatus])
)
@click.option("--type", "job_type")
@click.option("--error-group", help="Failed jobs with this error group key (jobs errors ID).")
@click.option("--parent", "parent", help="'root' (default), 'all', or a parent job id.")
@click.option("--search", "text", help="Text in the job name.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--order-by", type=click.Choice(sorted(JOB_ORDER_KEYS)), default="id")
@click.option("--asc", is_flag=True, help="Ascending order (default: newest first).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ls(
    ctx: Ctx,
    statuses: tuple[str, ...],
    job_type: str | None,
    error_group: str | None,
    parent: str | None,
    text: str | None,
    limit: int,
    offset: int,
    order_by: str,
    asc: bool,
    as_json: bool,
) -> None:
    """List jobs (top-level by default) with their progress."""
    parent_id: int | str | None = "root"
    if parent == "all":
        parent_id = None
    elif parent not in (None, "root"):
        try:
            parent_id = parse_id(parent or "", "--parent")
        except InvalidArgument as exc:
            fail(f"{exc} (or 'root' or 'all')")
    query = JobQuery(
        statuses=[JobStatus(s) for s in statuses],
        job_type=job_type,
        error_group=error_group,
        parent_id=parent_id,
        text=text,
        limit=limit,
        offset=offset,
        order_by=order_by,
        descending=not asc,
    )

    async def go() -> None:
        pruned_at: str | None = None
        async with make_app(ctx) as app:
            page = await app.store.list_jobs(query)
            if isinstance(parent_id, int):
                parent_job = await app.store.get_job(parent_id)
                if parent_job is not None:
                    pruned_at = iso(parent_job.children_pruned_at)
        if as_json:
            items = [job_to_dict(j) for j in page.items]
            for j, d in zip(page.items, items, strict=True):
                d.setdefault("duration_seconds", job_duration(j))
            out = {"items": items, "total": page.total}
            if isinstance(parent_id, int):
                out["children_pruned"] = pruned_at is not None
            print_json(out)
            return
        if pruned_at is not None:
            click.echo(
                f"the children of job {parent_id} were pruned at {pruned_at}"
                " (its counts keep their summary: quaero jobs show)"
            )
        rows = []
        for j in page.items:
            d = job_to_dict(j)
            rows.append(
                (
                    j.id,
                    j.name,
                    j.job_type,
                    d["overall_status"],
                    children_text(j.children) if j.children.total else "-",
                    j.result_count,
                    fmt_duration(job_duration(j)),
                    _when(j.created_at),
                    j.error or "",
                )
            )
        print_rows(
            f"{page.total} job(s)",
            ("id", "name", "type", "status", "progress", "docs", "duration", "created", "error"),
            rows,
            fold=("name", "error"),
            optional=("created", "docs", "type", "duration"),
        )

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(ctx: Ctx, job_id: int, as_json: bool) -> None:
    """Show one job, its counters and progress."""

    async def go() -> None:
        async with make_app(ctx) as app:
            job = await app.store.get_job(job_id)
            if job is None:
                fail(f"job {job_id} not found", code=NOT_FOUND)
                return
            reasons = await failure_reasons(app.store, job_id) if job.children.failed else None
        d = job_to_dict(job)
        duration = job_duration(job)
        d.setdefault("duration_seconds", duration)
        if as_json:
            print_json(d)
            return
        for key in (
            "id",
            "name",
            "job_type",
            "overall_status",
            "parent_id",
            "root_id",
            "depth",
            "attempts",
            "max_attempts",
            "created_at",
            "started_at",
            "completed_at",
        ):
            click.echo(f"{key:>15}: {'-' if d[key] is None else d[key]}")
        if job.status.value != d["overall_status"]:
            waiting = ", waiting for its children" if job.waiting else ""
            click.echo(f"{'own work':>15}: {job.status.value}{waiting}")
        click.echo(f"{'duration':>15}: {fmt_duration(duration)}")
        if job.children.total:
            click.echo(f"{'children':>15}: {job.children.total} ({children_text(job.children)})")
        if d["children_pruned_at"]:
            click.echo(
                f"{'children pruned':>15}: {d['children_pruned_at']}"
                " (the counts above are the summary kept)"
            )
        if reasons:
            click.echo(f"{'failed by':>15}: {reasons_text(reasons)}")
        skipped = {
            k.removeprefix("skipped_"): v
            for k, v in job.stats.items()
            if v and k.startswith("skipped_")
        }
        if job.job_type == "crawl" and skipped:
            text = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
            click.echo(f"{'skipped':>15}: {text}")
        if job.progress:
            p = job.progress
            total = p.get("total")
            of = f" of {total}" if total else ""
            message = f" {p['message']}" if p.get("message") else ""
            click.echo(f"{'progress':>15}: {p.get('current', 0)}{of}{message}")
        if job.result_count:
            click.echo(f"{'documents':>15}: {job.result_count}")
        if job.error:
            click.echo(f"{'error':>15}: {job.error}")
        if d["result"] is not None:
            click.echo(f"{'result':>15}: {json.dumps(d['result'], default=str)}")
        config = json.dumps(d["config"], indent=2, default=str).replace("\n", "\n" + " " * 17)
        click.echo(f"{'config':>15}: {config}")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--level", type=click.Choice(LOG_LEVELS), help="Minimum level.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--tail", is_flag=True, help="The newest lines instead of the oldest.")
@click.option("--aggregated", "-a", is_flag=True, help="Include the logs of all descendants.")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="After the newest lines, print new ones as they are written (live, over the "
    "event bus) until the job ends or Ctrl-C.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def logs(
    ctx: Ctx,
    job_id: int,
    level: str | None,
    limit: int,
    tail: bool,
    aggregated: bool,
    follow: bool,
    as_json: bool,
) -> None:
    """Print a job's log (with --follow, tail it live)."""

    async def go() -> int:
        async with make_app(ctx) as app:
            if await app.store.get_job(job_id) is None:
                fail(f"job {job_id} not found", code=NOT_FOUND)
            if follow:
                return await follow_logs(app, job_id, level, limit, aggregated, as_json)
            # one line more than shown: whether to say the log goes on
            entries = await app.store.read_logs(
                LogQuery(
                    job_id,
                    min_level=level,
                    descending=tail,
                    limit=limit + 1,
                    aggregated=aggregated,
                )
            )
        more = len(entries) > limit
        entries = entries[:limit]
        if tail:
            entries.reverse()
        for e in entries:
            click.echo(log_line(e, aggregated, as_json))
        if more:  # on stderr: stdout stays the lines alone (pipes, --json)
            which = "newest" if tail else "oldest"
            click.echo(
                f"note: the {which} {limit} lines; the log has more"
                f" (--limit N, {'--follow' if tail else '--tail'})",
                err=True,
            )
        return 0

    raise SystemExit(run_async(go))


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def cancel(ctx: Ctx, job_id: int, as_json: bool) -> None:
    """Cancel a job and its whole subtree."""

    async def go() -> None:
        async with make_app(ctx) as app:
            n = await app.manager.cancel(job_id)
        if as_json:
            print_json({"job_id": job_id, "cancelled": n})
        else:
            click.echo(f"cancelled {n} job(s)")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--cancel", "cancel_first", is_flag=True, help="Cancel a running job first.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def delete(ctx: Ctx, job_id: int, cancel_first: bool, as_json: bool) -> None:
    """Delete a finished job with its subtree and logs."""

    async def go() -> None:
        async with make_app(ctx) as app:
            n = await app.manager.delete(job_id, cancel=cancel_first)
        if as_json:
            print_json({"job_id": job_id, "deleted": n})
        else:
            click.echo(f"deleted {n} job(s)")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--json", "as_json", is_flag=True, help="Print the new job as JSON.")
@click.pass_obj
def rerun(ctx: Ctx, job_id: int, as_json: bool) -> None:
    """Start a COPY: a new top-level job with the same type and config (the old job is
    kept as it is). To run failed work again under the same ids: `jobs retry`."""

    async def go() -> None:
        async with make_app(ctx) as app:
            job = await app.manager.rerun(job_id)
        if as_json:
            print_json(job_to_dict(job))
        else:
            click.echo(f"started job {job.id}")

    run_async(go)
