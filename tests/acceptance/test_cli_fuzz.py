"""Random arguments and values to every command: never a stack trace.

Every command of the tree is fuzzed in-process (Click's runner, the real command code,
a real SQLite store in a temporary directory) with hypothesis: its own options with
hostile values (huge and negative integers, bad URLs, broken JSON, NUL bytes...), plus
random positional arguments. ``serve`` and ``worker`` run until interrupted when their
arguments are good, so they get a generated matrix of bad values instead, each in a
subprocess that must exit quickly with a one-line error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaero.cli import cli

QUAERO = str(Path(sys.executable).with_name("quaero"))
LONG_RUNNING = {("serve",), ("worker",)}

VALUES = [
    "0",
    "1",
    "2",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999",
    "1e309",
    "nan",
    "",
    " ",
    "::::",
    "root",
    "all",
    "abc",
    "ünïcødé",
    "a\x00b",
    "{}",
    "{",
    "[]",
    "null",
    '{"children": 2}',
    '{"children": 100000000000000000000000000000}',
    '{"sleep_ms": 1}',
    "noop",
    "fanout",
    "crawl",
    "http://127.0.0.1:9/",
    "sqlite:///./fuzz.db",
    "sqlite:///",
    "mysql://x",
    "postgresql://fuzz@127.0.0.1:9/none",
    "(unclosed",
    "x" * 300,
    "--",
    "-",
]


def leaves(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from leaves(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = [(p, c) for p, c in leaves(cli) if p not in LONG_RUNNING]


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    path, cmd = draw(st.sampled_from(COMMANDS))
    args = list(path)
    options = [p for p in cmd.params if isinstance(p, click.Option)]
    for _ in range(draw(st.integers(0, 4))):
        if options and draw(st.booleans()):
            opt = draw(st.sampled_from(options))
            args.append(draw(st.sampled_from(opt.opts)))
            if not opt.is_flag:
                args.append(draw(st.sampled_from(VALUES)))
        else:
            args.append(draw(st.sampled_from(VALUES)))
    return args


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-fuzz")


@pytest.mark.timeout(900)
@settings(
    max_examples=int(os.environ.get("QUAERO_CLI_FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=os.environ.get("QUAERO_CLI_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=invocations())
def test_random_arguments_never_give_a_traceback(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(workdir)
    env = {
        "QUAERO_DB_URL": f"sqlite:///{workdir}/q.db",
        "QUAERO_WORKER_BACKOFF_BASE": "0.01",
        "QUAERO_WORKER_BACKOFF_MAX": "0.02",
        "QUAERO_WORKER_LEASE_SECONDS": "2",
        "QUAERO_JOBS_DEFINITIONS_DIR": str(workdir / "jobs"),
    }
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=True)
    shown = f"quaero {' '.join(map(repr, args))} -> exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        shown + "\n" + repr(result.exception)
    )
    assert "Traceback" not in result.output, shown
    assert result.exit_code in (0, 1, 2, 3, 130), shown
    if result.exit_code == 2:  # bad input: one error line (and maybe a hint)
        errors = [ln for ln in result.output.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1, shown


BAD_SERVE_WORKER = [
    ["serve", "--port", "0"],
    ["serve", "--port", "99999999999999999999"],
    ["serve", "--port", "-1"],
    ["serve", "--host", "nonexistent.invalid"],
    ["serve", "--host", "a\x01b"],
    ["serve", "--concurrency", "0"],
    ["serve", "--concurrency", "9223372036854775808"],
    ["serve", "--db", "::::"],
    ["serve", "--db", "mysql://x"],
    ["serve", "--config", "/nonexistent/quaero.toml"],
    ["serve", "--bogus"],
    ["serve", "extra-argument"],
    ["worker", "--concurrency", "0"],
    ["worker", "--concurrency", "99999999999999999999"],
    ["worker", "--lease-seconds", "nan"],
    ["worker", "--lease-seconds", "-5"],
    ["worker", "--lease-seconds", "1e309"],
    ["worker", "--db", "::::"],
    ["worker", "--db", "sqlite:///"],
    ["worker", "--type", "no-such-type"],
    ["worker", "--config", "/nonexistent/quaero.toml"],
    ["worker", "--bogus"],
]


@pytest.mark.parametrize("args", BAD_SERVE_WORKER, ids=lambda a: " ".join(a).replace("\x01", "^A"))
def test_bad_values_to_long_running_commands_exit_with_one_line(
    tmp_path: Path, args: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUAERO_")}
    env["QUAERO_DB_URL"] = f"sqlite:///{tmp_path}/q.db"
    p = subprocess.run(
        [QUAERO, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    assert p.returncode in (1, 2), (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), p.stderr
    assert len(lines) <= 2, p.stderr
