"""``[retention]`` settings: durations, precedence, errors naming their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from quaero.config import load_settings, parse_duration
from quaero.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604800.0), ("12h", 43200.0), ("30m", 1800.0), ("45s", 45.0), ("2w", 1209600.0),
     ("1.5h", 5400.0), ("90", 90.0), ("0", None), ("never", None), ("NEVER", None)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["7 d", "-1", "1y", "abc", "", "inf", "nan", "d7", "1h30m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_toml_then_env_then_flags(tmp_path: Path) -> None:
    f = tmp_path / "q.toml"
    f.write_text('[retention]\ncompleted = "1d"\nfailed = "2d"\ncancelled = 0\nchildren = "6h"\n')
    s = load_settings(
        f, env={"QUAERO_RETENTION_FAILED": "3d"}, overrides={"retention.children": "1h"}
    )
    assert (s.retention.completed, s.retention.failed) == ("1d", "3d")
    assert s.retention.seconds("cancelled") is None and s.retention.seconds("children") == 3600
    assert load_settings(env={}).retention.seconds("completed") == 7 * 86400


def test_errors_name_where_the_value_came_from(tmp_path: Path) -> None:
    f = tmp_path / "q.toml"
    f.write_text('[retention]\ncompleted = "a week"\n')
    with pytest.raises(ConfigError, match=r"q.toml: retention.completed: invalid duration"):
        load_settings(f, env={})
    with pytest.raises(ConfigError, match=r"retention\.interval must be a positive"):
        load_settings(env={"QUAERO_RETENTION_INTERVAL": "never"})
