"""Job definitions without a store: parsing, per-file errors, TOML round trip, cron fire
times and the catch-up rule (times are injected, never waited for)."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from quaero.app import App
from quaero.config import Settings
from quaero.definitions import (
    Catalog,
    DefinitionNotFound,
    InvalidDefinition,
    JobDefinition,
    cron,
    load_dir,
    load_file,
    parse_definition,
    write_definition,
)

ROOT = Path(__file__).resolve().parents[2]


def ts(text: str) -> float:
    """``"2024-01-02 03:00"`` (UTC) as seconds since the epoch."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- parsing
def test_minimal_definition_gets_defaults() -> None:
    d = parse_definition("nightly", {"job_type": "noop"})
    assert (d.id, d.name, d.description, d.job_type) == ("nightly", "nightly", "", "noop")
    assert d.config == {} and d.schedule is None and d.timezone == "UTC" and d.enabled
    assert not d.scheduled and d.next_run(ts("2024-01-01 00:00")) is None


def test_full_definition() -> None:
    d = parse_definition(
        "docs",
        {
            "name": " Docs ",
            "description": "d",
            "job_type": "crawl",
            "schedule": "0  3 * *   *",
            "timezone": "Europe/Paris",
            "enabled": True,
            "config": {"start_urls": ["https://example.com/"], "max_depth": 2},
        },
        updated_at=5.0,
    )
    assert d.name == "Docs" and d.schedule == "0 3 * * *" and d.updated_at == 5.0
    assert d.scheduled
    # 03:00 in Paris (UTC+1 in January) is 02:00 UTC
    assert d.next_run(ts("2024-01-10 12:00")) == ts("2024-01-11 02:00")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({}, "job_type is required"),
        ({"job_type": "  "}, "job_type is required"),
        ({"job_type": "noop", "bogus": 1, "other": 2}, "unknown key(s) 'bogus', 'other'"),
        ({"job_type": "noop", "id": "x"}, "unknown key(s) 'id'"),
        ({"job_type": "noop", "enabled": "yes"}, "enabled must be true or false"),
        ({"job_type": "noop", "name": 3}, "name must be a string"),
        ({"job_type": "noop", "config": [1]}, "config must be a table"),
        ({"job_type": "noop", "config": {"a": {"b": None}}}, "config.a.b: null cannot be saved"),
        ({"job_type": "noop", "schedule": 5}, "schedule must be a cron string"),
        ({"job_type": "noop", "schedule": "61 3 * * *"}, "not a valid cron expression"),
        ({"job_type": "noop", "schedule": "* * * * * *"}, "is not a cron expression (5 fields"),
        ({"job_type": "noop", "schedule": "@reboot"}, "is not a cron expression"),
        ({"job_type": "noop", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_invalid_definitions_say_why(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidDefinition) as info:
        parse_definition("d", data)
    assert fragment in str(info.value)


@pytest.mark.parametrize("bad_id", ["", "Caps", "has space", "dot.ted", "x" * 101, "../up"])
def test_invalid_ids(bad_id: str) -> None:
    with pytest.raises(InvalidDefinition, match="invalid definition id"):
        parse_definition(bad_id, {"job_type": "noop"})


def test_blank_schedule_means_none_and_aliases_are_accepted() -> None:
    assert parse_definition("d", {"job_type": "noop", "schedule": " "}).schedule is None
    assert parse_definition("d", {"job_type": "noop", "schedule": "@Daily"}).schedule == "@daily"


# --------------------------------------------------------------------------- files
def test_load_dir_reports_each_bad_file_and_loads_the_others(tmp_path: Path) -> None:
    write(tmp_path, "good.toml", 'job_type = "noop"\nschedule = "*/5 * * * *"\n')
    write(tmp_path, "also_good-2.toml", 'job_type = "fanout"\n[config]\nchildren = 2\n')
    write(tmp_path, "syntax.toml", "job_type = \n")
    write(tmp_path, "cron.toml", 'job_type = "noop"\nschedule = "0 25 * * *"\n')
    write(tmp_path, "Upper.toml", 'job_type = "noop"\n')
    write(tmp_path, "binary.toml", "")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    write(tmp_path, "notes.txt", "not a definition")
    write(tmp_path, ".good.toml.abc.tmp", "half-written")
    write(tmp_path, ".hidden.toml", "ignored")
    (tmp_path / "sub.toml").mkdir()  # a directory named like a file is not one
    result = load_dir(tmp_path)
    assert sorted(result.definitions) == ["also_good-2", "good"]
    assert set(result.errors) == {"syntax.toml", "cron.toml", "Upper.toml", "binary.toml"}
    assert "invalid TOML" in result.errors["syntax.toml"]
    assert "line 1" in result.errors["syntax.toml"]
    assert "schedule: '0 25 * * *' is not a valid cron" in result.errors["cron.toml"]
    assert "file name 'Upper.toml'" in result.errors["Upper.toml"]
    assert "not UTF-8" in result.errors["binary.toml"]


def test_load_dir_check_refuses_per_file_and_survives_a_crashing_check(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'job_type = "noop"\n')
    write(tmp_path, "b.toml", 'job_type = "nope"\n')
    write(tmp_path, "c.toml", 'job_type = "boom"\n')

    def check(d: JobDefinition) -> JobDefinition:
        if d.job_type == "nope":
            raise InvalidDefinition("job_type: unknown")
        if d.job_type == "boom":
            raise RuntimeError("validator bug")
        return d

    result = load_dir(tmp_path, check)
    assert list(result.definitions) == ["a"]
    assert result.errors == {
        "b.toml": "job_type: unknown",
        "c.toml": "RuntimeError: validator bug",
    }


def test_missing_directory_has_no_definitions(tmp_path: Path) -> None:
    result = load_dir(tmp_path / "absent")
    assert result.definitions == {} and result.errors == {}


def test_toml_round_trip_is_atomic_and_keeps_permissions(tmp_path: Path) -> None:
    d = parse_definition(
        "rt",
        {
            "name": "Round trip",
            "description": "multi\nline \"quoted\" 'text'",
            "job_type": "fanout",
            "schedule": "0 3 * * 1-5",
            "timezone": "America/New_York",
            "enabled": False,
            "config": {
                "children": 3,
                "child_config": {"sleep_ms": 1.5, "tags": ["a", "é"], "nested": {"x": True}},
                "mixed": [1, "two", {"three": 3}],
            },
        },
    )
    path = write_definition(tmp_path / "new-dir", d)
    assert path == tmp_path / "new-dir" / "rt.toml"
    back = load_file(path)
    assert back.updated_at == path.stat().st_mtime
    assert back == JobDefinition(**{**_fields(d), "updated_at": back.updated_at})
    os.chmod(path, 0o640)
    write_definition(tmp_path / "new-dir", parse_definition("rt", {"job_type": "noop"}))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert load_file(path).job_type == "noop"
    assert sorted(p.name for p in (tmp_path / "new-dir").iterdir()) == ["rt.toml"]


def test_optional_keys_are_left_out_of_the_file(tmp_path: Path) -> None:
    path = write_definition(tmp_path, parse_definition("plain", {"job_type": "noop"}))
    text = path.read_text()
    assert "schedule" not in text and "timezone" not in text and "description" not in text
    assert 'job_type = "noop"' in text and "enabled = true" in text


def _fields(d: JobDefinition) -> dict[str, Any]:
    return {name: getattr(d, name) for name in JobDefinition.__dataclass_fields__}


def test_example_definitions_in_the_repo_are_valid() -> None:
    app = App(Settings())
    from quaero.cli.plugins import register_plugins

    register_plugins(app)
    catalog = Catalog(app, ROOT / "jobs", log_errors=False)
    catalog.reload()
    assert catalog.errors == {}
    ids = {d.id: d for d in catalog.definitions}
    crawl = ids["example-crawl"]
    assert crawl.job_type == "crawl" and crawl.schedule == "0 3 * * *" and not crawl.enabled
    assert crawl.config["max_depth"] == 2 and crawl.config["max_pages"] == 200
    assert ids["demo-fanout"].job_type == "fanout" and ids["demo-fanout"].schedule is None


# --------------------------------------------------------------------------- catalog
@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    c = Catalog(App(Settings()), tmp_path / "jobs", log_errors=False)
    c.reload()
    return c


def test_catalog_checks_job_type_and_config(catalog: Catalog) -> None:
    with pytest.raises(InvalidDefinition, match=r"job_type: unknown job type 'nope' \(registered"):
        catalog.put("x", {"job_type": "nope"})
    with pytest.raises(InvalidDefinition, match="config: children must be an integer"):
        catalog.put("x", {"job_type": "fanout", "config": {"children": -1}})
    with pytest.raises(InvalidDefinition, match="config: unknown fanout option"):
        catalog.put("x", {"job_type": "fanout", "config": {"bogus": 1}})
    assert catalog.definitions == [] and not (catalog.directory / "x.toml").exists()


def test_catalog_put_get_delete_and_refresh(catalog: Catalog) -> None:
    d, created = catalog.put("one", {"job_type": "noop", "schedule": "@hourly"})
    assert created and d.schedule == "@hourly" and d.updated_at > 0
    changes: list[int] = []
    catalog.on_change(lambda: changes.append(1))
    d2, created = catalog.put("one", {"job_type": "noop", "name": "renamed"})
    assert not created and d2.name == "renamed" and catalog.get("one") == d2
    assert changes == [1]
    assert not catalog.refresh()  # nothing changed on disk since
    write(catalog.directory, "two.toml", 'job_type = "noop"\n')
    write(catalog.directory, "broken.toml", "= nope")
    assert catalog.refresh()
    assert [x.id for x in catalog.definitions] == ["one", "two"]
    with pytest.raises(InvalidDefinition, match="'broken' has errors: invalid TOML"):
        catalog.get("broken")
    catalog.delete("broken")  # a bad file can be deleted too
    catalog.delete("one")
    assert [x.id for x in catalog.definitions] == ["two"] and catalog.errors == {}
    with pytest.raises(DefinitionNotFound, match="'one' not found"):
        catalog.get("one")
    with pytest.raises(DefinitionNotFound):
        catalog.delete("one")


def test_redacted_credentials_keep_their_saved_values(catalog: Catalog, tmp_path: Path) -> None:
    catalog.app.job("secretive")(_noop_handler)
    saved = {"headers": {"Authorization": "Bearer s3cret", "X-Other": "1"}, "token": "t0k"}
    catalog.put("s", {"job_type": "secretive", "config": saved})
    shown = catalog.get("s").to_dict()["config"]
    assert shown == {
        "headers": {"Authorization": "<redacted>", "X-Other": "<redacted>"},
        "token": "<redacted>",
    }
    shown["headers"]["X-Other"] = "2"
    catalog.put("s", {"job_type": "secretive", "config": shown})
    assert catalog.get("s").config == {
        "headers": {"Authorization": "Bearer s3cret", "X-Other": "2"},
        "token": "t0k",
    }


async def _noop_handler(ctx: Any) -> None:
    return None


# --------------------------------------------------------------------------- cron
@pytest.mark.parametrize(
    ("expr", "now", "latest", "after"),
    [
        ("0 3 * * *", "2024-01-02 10:00", "2024-01-02 03:00", "2024-01-03 03:00"),
        # exactly on a fire time: that one is the latest, the next is a day later
        ("0 3 * * *", "2024-01-02 03:00", "2024-01-02 03:00", "2024-01-03 03:00"),
        ("*/15 * * * *", "2024-01-02 10:14", "2024-01-02 10:00", "2024-01-02 10:15"),
        ("0 9 * * 1-5", "2024-01-06 12:00", "2024-01-05 09:00", "2024-01-08 09:00"),  # weekend
        ("@monthly", "2024-02-15 00:00", "2024-02-01 00:00", "2024-03-01 00:00"),
    ],
)
def test_fire_times(expr: str, now: str, latest: str, after: str) -> None:
    assert cron.latest_slot(expr, "UTC", ts(now)) == ts(latest)
    assert cron.next_slot(expr, "UTC", ts(now)) == ts(after)


def test_fire_times_follow_the_time_zone_across_dst() -> None:
    # Paris: UTC+1 in winter, UTC+2 from 2024-03-31
    assert cron.next_slot("0 3 * * *", "Europe/Paris", ts("2024-03-30 12:00")) == ts(
        "2024-03-31 01:00"
    )
    assert cron.next_slot("0 12 * * *", "Europe/Paris", ts("2024-04-01 00:00")) == ts(
        "2024-04-01 10:00"
    )


def test_missed_fire_times_make_one_run() -> None:
    day = "0 3 * * *"
    since = ts("2024-01-01 00:00")  # when the definition was written
    due = cron.due_slot
    # first fire time after it was written: due, once
    assert due(day, "UTC", ts("2024-01-01 03:00:01"), last_slot=None, since=since) == ts(
        "2024-01-01 03:00"
    )
    last = ts("2024-01-01 03:00")
    assert due(day, "UTC", ts("2024-01-01 23:59"), last_slot=last, since=since) is None
    # down from Jan 1 to Jan 4 10:00: three fire times missed, one run for the latest
    assert due(day, "UTC", ts("2024-01-04 10:00"), last_slot=last, since=since) == ts(
        "2024-01-04 03:00"
    )
    # a definition written after today's fire time waits for tomorrow's
    assert (
        due(day, "UTC", ts("2024-01-04 10:00"), last_slot=None, since=ts("2024-01-04 09:00"))
        is None
    )
    assert due(
        day, "UTC", ts("2024-01-05 03:00"), last_slot=None, since=ts("2024-01-04 09:00")
    ) == ts("2024-01-05 03:00")


def test_simulated_clock_gives_one_run_per_fire_time_and_one_catch_up() -> None:
    """The scheduler's rule applied minute by minute over days, with a downtime."""
    expr, since = "30 */6 * * *", ts("2024-01-01 00:00")
    last: float | None = None
    runs: list[float] = []
    now = since
    up = True
    while now < ts("2024-01-04 00:00"):
        up = not (ts("2024-01-02 05:00") <= now < ts("2024-01-03 08:00"))  # down ~27h
        if up:
            slot = cron.due_slot(expr, "UTC", now, last_slot=last, since=since)
            if slot is not None:
                runs.append(slot)
                last = slot
        now += 60
    expected_before = [ts(f"2024-01-01 {h:02d}:30") for h in (0, 6, 12, 18)]
    expected_before += [ts("2024-01-02 00:30")]
    catch_up = [ts("2024-01-03 06:30")]  # 06:30, 12:30, 18:30 (2nd) and 00:30, 06:30 missed
    after = [ts("2024-01-03 12:30"), ts("2024-01-03 18:30")]
    assert runs == expected_before + catch_up + after
