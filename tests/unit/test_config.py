"""Settings: TOML < environment < CLI, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from quaero.app import App
from quaero.config import load_settings
from quaero.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "quaero.toml"
    p.write_text(text)
    return p


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.store.url == "sqlite:///./data/quaero.db"
    assert s.server.host == "127.0.0.1" and s.server.port == 8080


def test_precedence_file_env_cli(tmp_path: Path) -> None:
    p = write(tmp_path, "[worker]\nconcurrency = 4\nlease_seconds = 12\n[server]\nport = 9000\n")
    s = load_settings(p, env={})
    assert (s.worker.concurrency, s.worker.lease_seconds, s.server.port) == (4, 12.0, 9000)
    s = load_settings(p, env={"QUAERO_WORKER_CONCURRENCY": "7"})
    assert s.worker.concurrency == 7 and s.worker.lease_seconds == 12.0
    s = load_settings(
        p, env={"QUAERO_WORKER_CONCURRENCY": "7"}, overrides={"worker.concurrency": 9}
    )
    assert s.worker.concurrency == 9


def test_env_aliases_and_lists(tmp_path: Path) -> None:
    s = load_settings(
        write(tmp_path, ""),
        env={
            "QUAERO_DB_URL": "postgresql://u@h/db",
            "QUAERO_API_TOKEN": "t0k",
            "QUAERO_WEBSOCKET_ALLOWED_EVENTS": "parent_job_progress, log",
            "QUAERO_TEST_PG_URL": "ignored",
        },
    )
    assert s.store.url == "postgresql://u@h/db"
    assert s.server.api_token == "t0k"
    assert s.websocket.allowed_events == ["parent_job_progress", "log"]


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[worker]\nconcurrency = 0\n", {}, "worker.concurrency must be at least 1"),
        ("[worker]\nconcurrency = 'many'\n", {}, "worker.concurrency: invalid value 'many'"),
        ("[wrker]\nx = 1\n", {}, "unknown section [wrker]"),
        ("[worker]\nspeed = 1\n", {}, "unknown key worker.speed"),
        ("[worker\n", {}, "invalid TOML"),
        ("", {"QUAERO_SERVER_PORT": "99999"}, "server.port must be between 1 and 65535"),
        ("", {"QUAERO_WORKER_LEASE_SECONDS": "soon"}, "QUAERO_WORKER_LEASE_SECONDS"),
        ("", {"QUAERO_DB_URL": "mysql://x"}, "unsupported store URL 'mysql://x'"),
        ("", {"QUAERO_DB_URL": "::::"}, "'::::' is neither a file path nor a URL"),
        ("", {"QUAERO_DB_URL": "sqlite:///"}, "names no SQLite file"),
        ("", {"QUAERO_DB_URL": "sqlite:x.db"}, "names no SQLite file"),
        ("", {"QUAERO_DB_URL": " "}, "store URL is empty"),
        ("", {"QUAERO_DB_URL": "postgresql://"}, "names no database"),
        ("[worker]\nmax_attempts = 100000000000000000000000000000\n", {}, "64-bit"),
        ("", {"QUAERO_WORKER_MAX_ATTEMPTS": "9223372036854775808"}, "64-bit"),
        ("", {"QUAERO_WORKER_MAX_ATTEMPTS": "9" * 40}, "too large"),
        ("[worker]\nlease_seconds = inf\n", {}, "finite"),
        ("[websocket.throttle_intervals]\nparent_job_progress = -1\n", {}, "must not be negative"),
        ("[worker]\nprefetch = 'lots'\n", {}, 'worker.prefetch must be "auto" or a number'),
        ("", {"QUAERO_WORKER_PREFETCH": "-1"}, 'worker.prefetch must be "auto" or a number'),
        ("", {"QUAERO_WORKER_PREFETCH": "10001"}, 'worker.prefetch must be "auto" or a number'),
    ],
)
def test_bad_values_are_clear_errors(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env=env)
    assert message in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///./data/q.db",
        "sqlite:////abs/q.db",
        "sqlite://:memory:",
        "q.db",
        "C:\\q.db",
        "postgresql://u@h/db",
        "postgres://h/db",
    ],
)
def test_store_urls_that_name_a_store_are_accepted(url: str) -> None:
    from quaero.config import check_store_url

    assert check_store_url(url) == url


@pytest.mark.parametrize(("value", "ahead"), [("auto", None), ("AUTO", None), ("0", 0), (8, 8)])
def test_prefetch_is_auto_or_a_number(tmp_path: Path, value: object, ahead: int | None) -> None:
    s = load_settings(write(tmp_path, f"[worker]\nprefetch = {value!r}\n"), env={})
    assert App(s).worker().prefetch == ahead
