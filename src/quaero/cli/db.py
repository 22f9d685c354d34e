"""``quaero db migrate|check|copy|prune|vacuum``: schema, consistency, moving the store,
retention."""

from __future__ import annotations

import sys

import click

from ..config import parse_duration
from ..jobs.models import iso
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
            marks = await app.store.prune_marks()
        pruned = sum(1 for m in marks.values() if m.children_only)
        if as_json:
            print_json(
                [
                    {"job_id": d.job_id, "kind": d.kind, "stored": d.stored, "actual": d.actual}
                    | ({"children_pruned": True} if d.pruned else {})
                    for d in drift
                ]
            )
        elif not drift:
            click.echo(
                "ok: every parent's counters equal a recount of its children,"
                " and every job's descendants a recount of its subtree"
            )
            if pruned:
                click.echo(
                    f"ok: {pruned} parent(s) whose children were pruned keep the summary"
                    " they had when pruned"
                )
        else:
            for d in drift:
                if d.pruned:
                    click.echo(
                        f"job {d.job_id} (children pruned): stored {d.stored}"
                        f" != summary kept at pruning {d.actual}"
                    )
                else:
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
            # one line redrawn on a terminal ("\x1b[K": no tail of a longer line left);
            # piped or logged, nothing (it was every count glued into one line)
            if live:
                click.echo(f"\r\x1b[K{table}: {n:,} rows", nl=False, err=True)

        return await copy_sqlite_to_postgres(source, target, progress)

    live = sys.stderr.isatty()
    counts = run_async(go)
    if live:
        click.echo("\r\x1b[K", nl=False, err=True)
    for table, n in counts.items():
        click.echo(f"{table}: {n} rows copied")


def _age(value: str | None) -> float | None:
    """``--older-than``: a duration; ``0`` means every finished tree."""
    if value is None:
        return None
    if value.strip() in ("0", "0s", "0m", "0h", "0d", "0w"):
        return 0.0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        fail(f"--older-than: {exc}")
        raise AssertionError("unreachable") from None
    if seconds is None:
        fail("--older-than: 'never' prunes nothing; give an age such as 7d (0 = all)")
    return seconds


@db.command()
@click.option(
    "--older-than",
    "older_than",
    metavar="AGE",
    help="Prune finished top-level trees finished longer ago than AGE (30s, 12h, 7d, 0 = all)"
    " whatever their status; default: the [retention] settings.",
)
@click.option(
    "--children-only",
    is_flag=True,
    help="Prune only the children; the top-level job stays with its exact summary.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def prune(
    ctx: Ctx, older_than: str | None, children_only: bool, dry_run: bool, as_json: bool
) -> None:
    """Remove finished job trees past their retention (jobs, logs, stats, skips).

    Documents are kept (delete them with `quaero docs rm --crawl ID`). Runs in small
    transactions, so workers and servers may keep running; events older than
    [events] retention_hours are pruned too.
    """
    age = _age(older_than)

    async def go() -> None:
        from ..jobs.retention import PrunedTree, Pruner

        def show(t: PrunedTree) -> None:
            if as_json:
                return
            what = "children of job" if t.children_only else "job"
            done = iso(t.completed_at) or "-"
            if t.skipped:
                click.echo(f"kept {what} {t.job_id} ({t.job_type} {t.name!r}): {t.skipped}")
                return
            verb = "would remove" if dry_run else "removed"
            extra = "" if dry_run else f", {t.logs} log line(s)"
            click.echo(
                f"{verb} {what} {t.job_id} ({t.job_type} {t.name!r}, {t.status} {done}):"
                f" {t.jobs} job(s){extra}"
            )

        async with make_app(ctx) as app:
            pruner = Pruner(
                app.store,
                app.settings.retention,
                event_retention_seconds=app.settings.events.retention_hours * 3600,
            )
            report = await pruner.run_once(
                older_than=age, children_only=children_only, dry_run=dry_run, on_tree=show
            )
            freed = 0 if dry_run else await app.store.vacuum()
        if as_json:
            print_json(
                {
                    "dry_run": dry_run,
                    "jobs": report.jobs,
                    "events": report.events,
                    "bytes_freed": freed,
                    "trees": [
                        {
                            "job_id": t.job_id,
                            "name": t.name,
                            "job_type": t.job_type,
                            "status": t.status,
                            "completed_at": iso(t.completed_at),
                            "children_only": t.children_only,
                            "jobs": t.jobs,
                            "logs": t.logs,
                            "skipped": t.skipped,
                        }
                        for t in report.trees
                    ],
                }
            )
            return
        trees = sum(1 for t in report.trees if t.skipped is None)
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"{verb} {report.jobs} job(s) in {trees} tree(s)"
            + ("" if dry_run else f", {report.events} old event(s); {freed} bytes freed")
        )

    run_async(go)


@db.command()
@click.pass_obj
def vacuum(ctx: Ctx) -> None:
    """Give free space back to the file system.

    SQLite: VACUUM (rewrites the file; holds the write lock while it runs, so prefer a
    quiet moment) and turns on incremental auto-vacuum for a database made before it,
    after which the pruner frees space by itself. PostgreSQL: VACUUM (ANALYZE) of the job
    tables (space is reused, not returned).
    """

    async def go() -> None:
        async with make_app(ctx) as app:
            freed = await app.store.vacuum(full=True)
        click.echo(f"vacuumed {app.settings.store.url}: {freed} bytes freed")

    run_async(go)
