"""``quaero jobs ls|show|logs|cancel|delete|rerun`` (retry, errors, bulk: ``jobs_operate``)."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..bounds import parse_id
from ..errors import InvalidArgument
from ..jobs.models import JobStatus, iso, job_to_dict
from ..store.base import JOB_ORDER_KEYS, LOG_LEVELS, JobQuery, LogQuery
from .main import JOB_ID, OFFSET, Ctx, cli, fail, make_app, print_json, run_async

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
        async with make_app(ctx) as app:
            page = await app.store.list_jobs(query)
        if as_json:
            print_json({"items": [job_to_dict(j) for j in page.items], "total": page.total})
            return
        table = Table(title=f"{page.total} job(s)")
        for col in ("id", "name", "type", "status", "progress", "docs", "created"):
            table.add_column(col)
        for j in page.items:
            d = job_to_dict(j)
            table.add_row(
                str(j.id),
                j.name,
                j.job_type,
                d["overall_status"],
                d["progress_text"] if j.children.total else "-",
                str(j.result_count),
                _when(j.created_at),
            )
        Console().print(table)

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
            fail(f"job {job_id} not found", code=1)
            return
        d = job_to_dict(job)
        if as_json:
            print_json(d)
            return
        for key in (
            "id",
            "name",
            "job_type",
            "status",
            "overall_status",
            "parent_id",
            "root_id",
            "depth",
            "attempts",
            "max_attempts",
            "created_at",
            "started_at",
            "completed_at",
            "error",
            "result_count",
            "progress_text",
        ):
            click.echo(f"{key:>15}: {d[key]}")
        click.echo(f"{'config':>15}: {d['config']}")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--level", type=click.Choice(LOG_LEVELS), help="Minimum level.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--tail", is_flag=True, help="The newest lines instead of the oldest.")
@click.option("--aggregated", "-a", is_flag=True, help="Include the logs of all descendants.")
@click.pass_obj
def logs(
    ctx: Ctx, job_id: int, level: str | None, limit: int, tail: bool, aggregated: bool
) -> None:
    """Print a job's log."""

    async def go() -> None:
        async with make_app(ctx) as app:
            entries = await app.store.read_logs(
                LogQuery(
                    job_id, min_level=level, descending=tail, limit=limit, aggregated=aggregated
                )
            )
        if tail:
            entries.reverse()
        for e in entries:
            who = f" [{e.job_id}]" if aggregated else ""
            click.echo(f"{iso(e.timestamp)} {e.level.upper():7}{who} {e.message}")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.pass_obj
def cancel(ctx: Ctx, job_id: int) -> None:
    """Cancel a job and its whole subtree."""

    async def go() -> None:
        async with make_app(ctx) as app:
            n = await app.manager.cancel(job_id)
        click.echo(f"cancelled {n} job(s)")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--cancel", "cancel_first", is_flag=True, help="Cancel a running job first.")
@click.pass_obj
def delete(ctx: Ctx, job_id: int, cancel_first: bool) -> None:
    """Delete a finished job with its subtree and logs."""

    async def go() -> None:
        async with make_app(ctx) as app:
            n = await app.manager.delete(job_id, cancel=cancel_first)
        click.echo(f"deleted {n} job(s)")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.pass_obj
def rerun(ctx: Ctx, job_id: int) -> None:
    """Start a COPY: a new top-level job with the same type and config (the old job is
    kept as it is). To run failed work again under the same ids: `jobs retry`."""

    async def go() -> None:
        async with make_app(ctx) as app:
            job = await app.manager.rerun(job_id)
        click.echo(f"started job {job.id}")

    run_async(go)
