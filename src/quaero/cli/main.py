"""The root ``quaero`` group, shared options and helpers for command modules."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from ..app import App
from ..config import Settings, load_settings
from ..errors import QuaeroError

__all__ = ["Ctx", "cli", "fail", "main", "make_app", "run_async"]

T = TypeVar("T")


class Ctx:
    """What the root group passes to commands: where the settings come from."""

    def __init__(self, config_file: str | None, db: str | None, verbose: int) -> None:
        self.config_file = config_file
        self.db = db
        self.verbose = verbose

    def settings(self, **overrides: Any) -> Settings:
        o = {"store.url": self.db, **overrides}
        return load_settings(self.config_file, overrides=o)


def fail(message: str, code: int = 2) -> None:
    """Print a clear error and exit non-zero (no stack trace)."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def make_app(ctx: Ctx, **overrides: Any) -> App:
    from .plugins import register_plugins

    app = App(ctx.settings(**overrides))
    register_plugins(app)
    return app


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn quaero errors into a message and exit code 2."""
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except QuaeroError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from None


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config-file",
    envvar="QUAERO_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML settings file (default ./quaero.toml when present).",
)
@click.option("--db", envvar="QUAERO_DB_URL", help="Store URL: sqlite:///path or postgresql://...")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(package_name="quaero")
@click.pass_context
def cli(click_ctx: click.Context, config_file: str | None, db: str | None, verbose: int) -> None:
    """quaero: durable hierarchical jobs with live progress."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click_ctx.obj = Ctx(config_file, db, verbose)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except QuaeroError as exc:  # raised while building settings, etc.
        fail(str(exc))
