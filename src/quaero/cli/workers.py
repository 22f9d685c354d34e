"""``quaero workers ls`` (the worker registry) and ``quaero jobs why ID`` (explain)."""

from __future__ import annotations

import time

import click

from ..errors import JobNotFound
from ..jobs.models import job_to_dict
from ..jobs.worker_registry import served_types, worker_to_dict
from .jobs import jobs
from .main import JOB_ID, NOT_FOUND, Ctx, cli, fail, make_app, print_json, run_async
from .output import print_rows

__all__ = ["why", "workers"]


@cli.group()
def workers() -> None:
    """The worker processes registered in the store."""


@workers.command("ls")
@click.option("--include-expired", is_flag=True, help="Also workers that stopped heartbeating.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ls(ctx: Ctx, include_expired: bool, as_json: bool) -> None:
    """List live workers: host, pid, slots, running jobs, job types, last heartbeat."""

    async def go() -> None:
        async with make_app(ctx) as app:
            rows = await app.workers(include_expired=include_expired)
        now = time.time()
        items = [worker_to_dict(w, now) for w in rows]
        if as_json:
            print_json(
                {
                    "items": items,
                    "live": sum(1 for w in rows if w.live(now)),
                    "job_types": sorted(served_types(rows, now)),
                }
            )
            return
        columns = ["id", "host", "pid", "slots", "running", "processed", "types", "heartbeat"]
        if include_expired:
            columns.append("live")
        table_rows = []
        for d in items:
            row = [
                d["id"],
                d["host"],
                str(d["pid"]),
                str(d["concurrency"]),
                str(d["running"]),
                str(d["processed"]),
                ", ".join(d["job_types"]),
                f"{d['heartbeat_age_seconds']:.1f} s ago",
            ]
            if include_expired:
                row.append("yes" if d["live"] else "expired")
            table_rows.append(row)
        # piped: whole tab-separated rows (a worker id can be copied), like jobs ls
        title = f"{sum(1 for w in rows if w.live(now))} live worker(s)"
        print_rows(
            title,
            columns,
            table_rows,
            fold=("id", "types"),
            optional=("host", "pid", "processed", "running"),
        )

    run_async(go)


@jobs.command()
@click.argument("job_id", type=JOB_ID)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def why(ctx: Ctx, job_id: int, as_json: bool) -> None:
    """Why isn't job JOB_ID done? Its handler, its children and the live workers."""

    async def go() -> None:
        async with make_app(ctx) as app:
            try:
                answer = await app.explain(job_id)
            except JobNotFound as exc:
                fail(str(exc), code=NOT_FOUND)
                return
            job = await app.store.get_job(job_id)
        if as_json:
            print_json(answer)
            return
        header = f"job {job_id}: {answer['overall_status']}"
        if job is not None:
            d = job_to_dict(job)
            header = f"job {job_id} ({job.job_type} {job.name!r}): {d['overall_status']}"
            c = job.children
            if c.total:
                # the sentences' number format (389,996), cancelled ones named too
                header += (
                    f", children: {c.pending:,} pending, {c.running:,} running,"
                    f" {c.completed:,} completed, {c.failed:,} failed"
                    + (f", {c.cancelled:,} cancelled" if c.cancelled else "")
                )
        click.echo(header)
        for sentence in answer["summary"]:
            click.echo(f"- {sentence}")

    run_async(go)
