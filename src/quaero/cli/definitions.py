"""``quaero defs ls|show|run|validate``: job definitions (``[jobs] definitions_dir``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import tomli_w

from ..definitions import Catalog, DefinitionNotFound, JobDefinition
from ..jobs.models import iso, job_to_dict, redact_config
from .main import Ctx, cli, fail, make_app, print_json, run_async
from .output import print_rows

__all__ = ["defs"]


@cli.group()
def defs() -> None:
    """Job definitions: saved jobs in TOML files, run by hand or on a cron schedule."""


def _catalog(ctx: Ctx, directory: str | None = None) -> Catalog:
    catalog = Catalog(make_app(ctx), directory, log_errors=False)  # the commands print them
    catalog.reload()
    return catalog


def _when(ts: float | None) -> str:
    s = iso(ts)
    return s[:16].replace("T", " ") + " UTC" if s else "-"


def _print_errors(catalog: Catalog) -> None:
    for name, error in sorted(catalog.errors.items()):
        click.secho(f"{catalog.directory / name}: {error}", fg="red", err=True)


@defs.command("ls")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ls(ctx: Ctx, as_json: bool) -> None:
    """List the definitions and their next scheduled start; bad files are listed too."""
    catalog = _catalog(ctx)
    now = time.time()
    if as_json:
        print_json(
            {
                "items": [d.to_dict(now) for d in catalog.definitions],
                "errors": [{"file": f, "error": e} for f, e in sorted(catalog.errors.items())],
                "directory": str(catalog.directory),
            }
        )
        return
    rows = []
    for d in catalog.definitions:
        schedule = "-"
        if d.schedule is not None:
            schedule = d.schedule + ("" if d.timezone == "UTC" else f" ({d.timezone})")
            schedule += "" if d.enabled else " (disabled)"
        rows.append((d.id, d.name, d.job_type, schedule, _when(d.next_run(now))))
    print_rows(
        f"{len(catalog.definitions)} definition(s) in {catalog.directory}",
        ("id", "name", "type", "schedule", "next run"),
        rows,
        fold=("name",),
    )
    _print_errors(catalog)


@defs.command("show")
@click.argument("definition_id")
@click.option("--runs", type=click.IntRange(0, 1000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show(ctx: Ctx, definition_id: str, runs: int, as_json: bool) -> None:
    """Show a definition (as TOML), its next start and its latest runs."""

    async def go() -> None:
        catalog = _catalog(ctx)
        d = _get(catalog, definition_id)
        async with catalog.app:
            recent = await catalog.runs(d.id, limit=runs) if runs else []
        if as_json:
            print_json({**d.to_dict(time.time()), "runs": [job_to_dict(j) for j in recent]})
            return
        click.echo(f"# {catalog.directory / (d.id + '.toml')}")
        click.echo(tomli_w.dumps({**d.to_toml(), "config": redact_config(d.config)}))
        if d.schedule is not None:
            click.echo(f"next run: {_when(d.next_run(time.time())) if d.enabled else 'disabled'}")
        for job in recent:
            jd = job_to_dict(job)
            trigger = job.metadata.get("trigger", "?")
            click.echo(
                f"job {job.id}  {jd['overall_status']:<9}  {_when(job.created_at)}  "
                f"({trigger})  {jd['progress_text']}"
            )
        if runs and not recent:
            click.echo("no runs yet")

    run_async(go)


@defs.command("run")
@click.argument("definition_id")
@click.option("--json", "as_json", is_flag=True, help="Print the new job as JSON.")
@click.pass_obj
def run(ctx: Ctx, definition_id: str, as_json: bool) -> None:
    """Start a run of a definition now (a worker or `quaero serve` runs it)."""

    async def go() -> None:
        catalog = _catalog(ctx)
        _get(catalog, definition_id)
        async with catalog.app:
            job = await catalog.execute(definition_id, trigger="cli")
        if as_json:
            print_json(job_to_dict(job))
        else:
            click.echo(f"started job {job.id} ({job.job_type}) from definition {definition_id}")

    run_async(go)


@defs.command("validate")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help='{"valid": [...], "errors": [...]}')
@click.pass_obj
def validate(ctx: Ctx, directory: str | None, as_json: bool) -> None:
    """Check every definition file in DIRECTORY (default [jobs] definitions_dir) against
    the registered job types; exit 1 listing each bad file."""
    if directory is not None and not Path(directory).is_dir():
        fail(f"{directory} is not a directory")
    catalog = _catalog(ctx, directory)
    if as_json:
        print_json(
            {
                "directory": str(catalog.directory),
                "valid": [d.id for d in catalog.definitions],
                "errors": [{"file": f, "error": e} for f, e in sorted(catalog.errors.items())],
            }
        )
        sys.exit(1 if catalog.errors else 0)
    for d in catalog.definitions:
        click.echo(f"ok     {catalog.directory / (d.id + '.toml')}")
    for name, error in sorted(catalog.errors.items()):
        click.secho(f"error  {catalog.directory / name}: {error}", fg="red")
    bad, good = len(catalog.errors), len(catalog.definitions)
    click.echo(f"{good} valid, {bad} invalid definition(s) in {catalog.directory}", err=True)
    sys.exit(1 if bad else 0)


def _get(catalog: Catalog, definition_id: str) -> JobDefinition:
    try:
        return catalog.get(definition_id)
    except DefinitionNotFound as exc:
        known = ", ".join(d.id for d in catalog.definitions) or "none"
        fail(f"{exc} in {catalog.directory} (known: {known})")
        raise AssertionError("unreachable") from None
