"""Hostile and careless input to the real ``quaero`` CLI: one-line errors, exit 2, no
traceback, nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

QUAERO = str(Path(sys.executable).with_name("quaero"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUAERO_")}
    return subprocess.run(
        [QUAERO, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def one_line_error(p: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), p.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), p.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("jobs", "show", "99999999999999999999999"),
        ("jobs", "cancel", "9223372036854775808"),
        ("jobs", "rerun", "9223372036854775808"),
        ("jobs", "retry", "9223372036854775808"),
        ("jobs", "errors", "9223372036854775808"),
        ("jobs", "why", "9223372036854775808"),
        ("jobs", "delete", "9223372036854775808"),
        ("jobs", "logs", "0"),
        ("jobs", "ls", "--offset", "9223372036854775808"),
        ("jobs", "ls", "--parent", "9223372036854775808"),
        ("docs", "show", "9223372036854775808"),
        ("docs", "ls", "--crawl", "9223372036854775808"),
        ("search", "x", "--offset", "9223372036854775808"),
        ("crawl", "skipped", "9223372036854775808"),
        ("crawl", "broken-links", "1", "--offset", "9223372036854775808"),
        ("crawl", "aliases", "1", "--offset", "9223372036854775808"),
    ],
)
def test_huge_integers_are_one_line_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    line = one_line_error(run("--db", f"sqlite:///{tmp_path}/q.db", *args, cwd=tmp_path))
    assert "9223372036854775807" in line or "at least" in line, line


def test_bad_store_url_creates_nothing(tmp_path: Path) -> None:
    for args in (("--db", "::::", "jobs", "ls"), ("jobs", "ls", "--db", "::::")):
        line = one_line_error(run(*args, cwd=tmp_path))
        assert "'::::' is neither a file path nor a URL" in line
    line = one_line_error(run("worker", "--db", "mysql://x", cwd=tmp_path))
    assert "unsupported store URL" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ("jobs", "ls"),
        ("jobs", "show", "1"),
        ("db", "migrate"),
        ("db", "check"),
        ("docs", "ls"),
        ("defs", "ls"),
    ],
)
def test_db_option_is_accepted_by_every_store_command(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path}/sub.db"
    p = run(*args[:2], "--db", url, *args[2:], cwd=tmp_path)
    assert "No such option" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert args[0] == "defs" or (tmp_path / "sub.db").exists()  # defs reads files only


def test_worker_takes_db(tmp_path: Path) -> None:
    p = run("worker", "--db", "::::", cwd=tmp_path)  # parsed, then refused as a bad URL
    assert "No such option" not in p.stderr
    one_line_error(p)


def test_usage_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    for args in (("jobs", "lss"), ("jobs", "show"), ("jobs", "ls", "--bogus"), ("nope",)):
        p = run(*args, cwd=tmp_path)
        one_line_error(p)
        assert p.stderr.strip().splitlines()[1].startswith("hint: see 'quaero")


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon", "1e12"])
def test_a_bad_timeout_is_refused_before_a_job_is_made(tmp_path: Path, value: str) -> None:
    db = f"sqlite:///{tmp_path}/q.db"
    args = ["--db", db, "run", "noop", "--wait", "--timeout", value]
    assert "--timeout" in one_line_error(run(*args, cwd=tmp_path))
    assert not (tmp_path / "q.db").exists()  # refused before the store was opened


def test_a_bad_setting_names_the_file_or_variable_it_came_from(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/q.db"
    bad = tmp_path / "bad.toml"
    bad.write_text("[worker]\nconcurrency = -4\n")
    line = one_line_error(run("--config-file", str(bad), "--db", db, "jobs", "ls", cwd=tmp_path))
    assert line == f"error: {bad}: worker.concurrency must be at least 1"

    def with_env(name: str, value: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [QUAERO, "--db", db, "jobs", "ls"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, name: value},
        )

    assert one_line_error(with_env("QUAERO_WORKER_LEASE_SECONDS", "-3")) == (
        "error: QUAERO_WORKER_LEASE_SECONDS: worker.lease_seconds must be positive"
    )
    p = with_env("QUAERO_WORKER_CONCURRENCY", "abc")
    line = one_line_error(p)
    assert line.startswith("error: QUAERO_WORKER_CONCURRENCY: ") and "expected an integer" in line
    assert "int()" not in line  # no Python wording
    assert not (tmp_path / "q.db").exists()


def test_a_store_in_a_directory_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    """A mistyped --db path is refused, not a new empty store (the store's own
    directory is made, as ./data is for the default store)."""
    missing = tmp_path / "no" / "such"
    line = one_line_error(run("--db", f"sqlite:///{missing}/q.db", "jobs", "ls", cwd=tmp_path))
    assert "does not exist" in line and str(tmp_path / "no") in line
    assert not (tmp_path / "no").exists()
    p = run("--db", f"sqlite:///{tmp_path}/data/q.db", "jobs", "ls", cwd=tmp_path)
    assert p.returncode == 0 and (tmp_path / "data" / "q.db").exists()
