"""The root ``quaero`` group, shared options and helpers for command modules."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from ..app import App
from ..bounds import MAX_INT, check_int, parse_id
from ..config import Settings, load_settings
from ..errors import InvalidArgument, JobNotFound, QuaeroError

__all__ = [
    "JOB_ID",
    "NOT_FOUND",
    "OFFSET",
    "BoundedInt",
    "Ctx",
    "QuaeroGroup",
    "Seconds",
    "cli",
    "fail",
    "main",
    "make_app",
    "no_store",
    "run_async",
]

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


#: the exit status when what a command names does not exist (a job, a document, a crawl);
#: 2 is for input that is malformed (an id of 2**63, bad JSON, an unknown option)
NOT_FOUND = 1


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
    except JobNotFound as exc:  # the id is well-formed, there is no such job: exit 1
        fail(str(exc), code=NOT_FOUND)
        raise AssertionError("unreachable") from None
    except QuaeroError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from None


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


class Seconds(click.ParamType[float]):
    """A duration in seconds: a finite number above 0 (at most a year). Anything else is
    a one-line usage error (exit 2) before the command does anything."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            n = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(n) or n <= 0 or n > 366 * 86400:
            self.fail(f"{value!r} is not a number of seconds above 0 (at most a year)", param, ctx)
        return n


class BoundedInt(click.ParamType[int]):
    """An integer a store can hold (``minimum`` .. 2**63-1): ids, offsets, limits.

    A value out of range is a one-line usage error (exit 2), never a traceback."""

    name = "integer"

    def __init__(self, minimum: int = 1, maximum: int = MAX_INT, what: str = "id") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            if isinstance(value, int) and not isinstance(value, bool):
                return check_int(value, self.what, self.minimum, self.maximum)
            text = str(value).strip()
            if self.minimum >= 1:
                return check_int(parse_id(text, self.what), self.what, self.minimum, self.maximum)
            negative = text.startswith("-")
            digits = text.removeprefix("-").removeprefix("+")
            if not digits.isascii() or not digits.isdigit():
                raise InvalidArgument(f"{self.what} must be an integer, got {text!r}")
            if len(digits) > 25:
                raise InvalidArgument(f"{self.what} must be at most {self.maximum}")
            n = -int(digits) if negative else int(digits)
            return check_int(n, self.what, self.minimum, self.maximum)
        except InvalidArgument as exc:
            self.fail(str(exc), param, ctx)


#: a job id argument or option (1 .. 2**63-1)
JOB_ID = BoundedInt(1, what="job id")
#: an --offset (0 .. 2**63-1)
OFFSET = BoundedInt(0, what="offset")


def no_store(fn: T) -> T:
    """Mark a command function that does not open the configured store (no ``--db``);
    put it below ``@group.command()``."""
    fn.opens_store = False  # type: ignore[attr-defined]
    return fn


def _set_db(click_ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = click_ctx.find_object(Ctx)
        if obj is not None:
            obj.db = value


def _db_option() -> click.Option:
    return click.Option(
        ["--db"],
        expose_value=False,
        is_eager=True,
        callback=_set_db,
        help="Store URL: sqlite:///path or postgresql://... (as quaero --db).",
    )


class QuaeroGroup(click.Group):
    """The CLI's groups: every command that opens the store takes ``--db`` (the same as
    the global option), and usage errors are one line plus a hint."""

    group_class = type  # subgroups are QuaeroGroups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        wants_db = not isinstance(cmd, click.Group) and getattr(cmd.callback, "opens_store", True)
        if wants_db and not any(p.name == "db" for p in cmd.params):
            cmd.params.insert(0, _db_option())
        super().add_command(cmd, name)

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "quaero"
            message = " ".join(exc.format_message().split())
            click.secho(f"error: {message}", fg="red", err=True)
            click.echo(f"hint: see '{where} --help'", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            fail(" ".join(exc.format_message().split()), exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except JobNotFound as exc:
            fail(str(exc), code=NOT_FOUND)
        except QuaeroError as exc:  # raised while building settings, etc.
            fail(str(exc))
        except Exception as exc:  # a bug: one line, the traceback only with -vv
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (run with -vv for details)", 1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=QuaeroGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    cli(standalone_mode=True)
