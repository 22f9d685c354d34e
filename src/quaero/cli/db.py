"""``quaero db migrate|check``: schema and consistency of the store."""

from __future__ import annotations

import click

from .main import Ctx, cli, make_app, print_json, run_async

__all__ = ["db"]


@cli.group()
def db() -> None:
    """Store maintenance."""


@db.command()
@click.pass_obj
def migrate(ctx: Ctx) -> None:
    """Apply pending migrations (also done on every start)."""

    async def go() -> None:
        async with make_app(ctx) as app:
            click.echo(
                f"schema version {await app.store.schema_version()} at {app.settings.store.url}"
            )

    run_async(go)


@db.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def check(ctx: Ctx, as_json: bool) -> None:
    """Recount every parent's children and report counters that drifted (exit 1 if any)."""

    async def go() -> int:
        async with make_app(ctx) as app:
            drift = await app.store.recount()
        if as_json:
            print_json(
                [{"job_id": d.job_id, "stored": d.stored, "actual": d.actual} for d in drift]
            )
        elif not drift:
            click.echo("ok: every parent's counters equal a recount of its children")
        else:
            for d in drift:
                click.echo(f"job {d.job_id}: stored {d.stored} != actual {d.actual}")
        return 1 if drift else 0

    raise SystemExit(run_async(go))
