"""``quaero jobs retry|errors|bulk``: act on a job tree (retry in place, error groups,
bulk actions on filtered children)."""

from __future__ import annotations

import click

from ..jobs.models import JobStatus, iso
from ..store.base import ChildFilter
from .jobs import jobs
from .main import JOB_ID, Ctx, fail, make_app, print_json, run_async

__all__ = ["bulk", "errors", "retry"]


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option(
    "--failed-children",
    "failed",
    is_flag=True,
    help="Retry every failed job in its subtree (not the job itself).",
)
@click.option(
    "--failed-and-cancelled-children",
    "failed_and_cancelled",
    is_flag=True,
    help="Retry every failed or cancelled job in its subtree.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def retry(ctx: Ctx, job_id: int, failed: bool, failed_and_cancelled: bool, as_json: bool) -> None:
    """Retry failed work IN PLACE: same id(s), attempts reset, previous error kept in the
    log; finished ancestors reopen and wait for their children. (`rerun` makes a copy.)"""
    if failed and failed_and_cancelled:
        fail("use only one of --failed-children and --failed-and-cancelled-children")
    children = "failed" if failed else "failed_and_cancelled" if failed_and_cancelled else None

    async def go() -> None:
        async with make_app(ctx) as app:
            result = await app.retry(job_id, children)  # type: ignore[arg-type]
        if as_json:
            print_json(result.as_dict())
        else:
            click.echo(f"retried {result.changed} job(s)")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def errors(ctx: Ctx, job_id: int, limit: int, as_json: bool) -> None:
    """A job's failed descendants grouped by error, largest group first."""

    async def go() -> None:
        async with make_app(ctx) as app:
            groups = await app.store.error_groups(job_id, limit)
        if as_json:
            print_json({"items": [g.to_dict() for g in groups]})
            return
        if not groups:
            click.echo(f"job {job_id} has no failed descendants")
            return
        width = max(len(str(g.count)) for g in groups)
        for g in groups:
            last = (iso(g.last_seen) or "-")[:19].replace("T", " ")
            samples = ", ".join(map(str, g.sample_job_ids)) or "-"
            click.echo(f"{g.count:>{width}}  {g.key}  (jobs {samples}; last {last})")

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.argument("action", type=click.Choice(["cancel", "retry", "delete"]))
@click.option(
    "--status", "statuses", multiple=True, type=click.Choice([s.value for s in JobStatus])
)
@click.option("--type", "job_type")
@click.option("--error-group", help="A key from `quaero jobs errors ID`.")
@click.option("--subtree", is_flag=True, help="Every descendant, not only the children.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def bulk(
    ctx: Ctx,
    job_id: int,
    action: str,
    statuses: tuple[str, ...],
    job_type: str | None,
    error_group: str | None,
    subtree: bool,
    as_json: bool,
) -> None:
    """Cancel, retry or delete the children of JOB_ID matching the filters (the same as
    `jobs ls --parent ID`). Delete refuses when a matching job is pending or running."""
    f = ChildFilter(
        statuses=[JobStatus(s) for s in statuses],
        job_type=job_type,
        error_group=error_group,
        subtree=subtree,
    )

    async def go() -> None:
        async with make_app(ctx) as app:
            result = await app.manager.bulk(job_id, action, f)  # type: ignore[arg-type]
        if as_json:
            print_json(result.as_dict())
        else:
            click.echo(
                f"{action}: {result.changed} changed, {result.refused} refused"
                f" ({result.matched} matched)"
            )

    run_async(go)
