"""``quaero db migrate|check|copy``: schema, consistency and moving the store."""

from __future__ import annotations

import click

from .main import Ctx, cli, fail, make_app, no_store, print_json, run_async

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
    """Recount every parent's children and every job's descendants; report counters that
    drifted (exit 1 if any)."""

    async def go() -> int:
        async with make_app(ctx) as app:
            drift = await app.store.recount()
        if as_json:
            print_json(
                [
                    {"job_id": d.job_id, "kind": d.kind, "stored": d.stored, "actual": d.actual}
                    for d in drift
                ]
            )
        elif not drift:
            click.echo(
                "ok: every parent's counters equal a recount of its children,"
                " and every job's descendants a recount of its subtree"
            )
        else:
            for d in drift:
                click.echo(f"job {d.job_id}: {d.kind} stored {d.stored} != actual {d.actual}")
        return 1 if drift else 0

    raise SystemExit(run_async(go))


@db.command()
@click.option(
    "--from", "source", required=True, help="The SQLite store: sqlite:///path/to/quaero.db"
)
@click.option(
    "--to", "target", required=True, help="An empty PostgreSQL database: postgresql://..."
)
@no_store
def copy(source: str, target: str) -> None:
    """Copy a SQLite store into an empty PostgreSQL database (ids and event seqs kept).

    Stop the workers and servers using the SQLite store first. The target is migrated, then
    every table is copied in one transaction: on any error nothing is written. Afterwards
    point every process at the target (--db / QUAERO_DB_URL) and check it with
    `quaero --db TARGET db check`.
    """
    if not source.startswith("sqlite://") and "://" in source:
        fail("--from must be a SQLite store (sqlite:///path)")
    if not target.startswith(("postgresql://", "postgres://")):
        fail("--to must be a PostgreSQL URL (postgresql://user@host/db)")

    async def go() -> dict[str, int]:
        from ..store.postgres_copy import copy_sqlite_to_postgres

        def progress(table: str, n: int) -> None:
            click.echo(f"\r{table}: {n} rows", nl=False, err=True)

        return await copy_sqlite_to_postgres(source, target, progress)

    counts = run_async(go)
    click.echo("", err=True)
    for table, n in counts.items():
        click.echo(f"{table}: {n} rows copied")
