"""REST ``/api/definitions`` through the real ASGI app (lifespan on, SQLite, no workers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from quaero.config import Settings
from quaero.definitions import Scheduler, catalog_of
from quaero.jobs.models import JobStatus

from .conftest import Web, open_web

CRAWLISH = {"children": 2, "child_config": {"sleep_ms": 1}}


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


@pytest.fixture
async def web(web_settings: Settings, jobs_dir: Path) -> AsyncIterator[Web]:
    jobs_dir.mkdir()
    (jobs_dir / "preloaded.toml").write_text(
        'name = "Preloaded"\njob_type = "fanout"\nschedule = "0 3 * * *"\n[config]\nchildren = 1\n'
    )
    (jobs_dir / "broken.toml").write_text('job_type = "fanout"\n[config]\nchildren = "many"\n')
    web_settings.jobs.definitions_dir = str(jobs_dir)
    async with open_web(web_settings) as w:
        yield w


async def put(web: Web, definition_id: str, status: int = 201, **body: Any) -> dict[str, Any]:
    r = await web.client.put(f"/api/definitions/{definition_id}", json=body)
    assert r.status_code == status, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_loaded_at_start_up_with_per_file_errors(web: Web, jobs_dir: Path) -> None:
    r = await web.client.get("/api/definitions")
    assert r.status_code == 200
    body = r.json()
    assert [d["id"] for d in body["items"]] == ["preloaded"]
    item = body["items"][0]
    assert item["name"] == "Preloaded" and item["schedule"] == "0 3 * * *"
    assert item["next_run_at"].endswith("T03:00:00Z") and item["enabled"] is True
    assert "last_run" not in item  # runs are read for one definition only
    assert body["errors"] == [
        {
            "file": "broken.toml",
            "error": "config: children must be an integer between 0 and 10000000, got 'many'",
        }
    ]
    assert body["directory"] == str(jobs_dir)
    r = await web.client.get("/api/definitions/broken")
    assert r.status_code == 422
    assert r.json()["detail"].startswith("job definition 'broken' has errors: config:")
    # loaded once by the lifespan, and kept on the app
    assert web.app.state["definitions"] is catalog_of(web.app)


async def test_create_update_get_delete(web: Web, jobs_dir: Path) -> None:
    created = await put(
        web, "nightly", job_type="fanout", config=CRAWLISH, schedule="30 2 * * *", enabled=False
    )
    assert created["id"] == "nightly" and created["name"] == "nightly"
    assert created["next_run_at"] is None and created["last_run"] is None
    assert created["active_run_id"] is None and created["updated_at"].endswith("Z")
    text = (jobs_dir / "nightly.toml").read_text()
    assert 'schedule = "30 2 * * *"' in text and "enabled = false" in text
    updated = await put(
        web, "nightly", 200, job_type="fanout", name="Nightly", config=CRAWLISH, enabled=True
    )
    assert updated["name"] == "Nightly" and updated["schedule"] is None
    assert "schedule" not in (jobs_dir / "nightly.toml").read_text()
    r = await web.client.get("/api/definitions/nightly")
    assert r.status_code == 200 and r.json()["name"] == "Nightly"
    ids = [d["id"] for d in (await web.client.get("/api/definitions")).json()["items"]]
    assert ids == ["nightly", "preloaded"]
    r = await web.client.delete("/api/definitions/nightly")
    assert r.status_code == 204 and not (jobs_dir / "nightly.toml").exists()
    r = await web.client.delete("/api/definitions/nightly")
    assert r.status_code == 404 and r.json() == {"detail": "job definition 'nightly' not found"}
    assert (await web.client.get("/api/definitions/nightly")).status_code == 404
    # a bad file can be deleted (and so fixed by writing it again)
    assert (await web.client.delete("/api/definitions/broken")).status_code == 204
    assert (await web.client.get("/api/definitions")).json()["errors"] == []


@pytest.mark.parametrize(
    ("definition_id", "body", "fragment"),
    [
        ("x", {"job_type": "nope"}, "job_type: unknown job type 'nope' (registered:"),
        ("x", {"job_type": "fanout", "config": {"children": -1}}, "config: children must be"),
        ("x", {"job_type": "fanout", "config": {"bogus": 1}}, "config: unknown fanout option"),
        ("x", {"job_type": "noop", "schedule": "0 3 * *"}, "schedule: '0 3 * *' is not a cron"),
        ("x", {"job_type": "noop", "schedule": "0 3 * * 9"}, "is not a valid cron expression"),
        ("x", {"job_type": "noop", "timezone": "Nowhere/City"}, "unknown time zone"),
        ("x", {"job_type": "noop", "config": {"seed": None}}, "config.seed: null cannot"),
        ("Bad.Id", {"job_type": "noop"}, "invalid definition id 'Bad.Id'"),
        ("x", {"job_type": "noop", "id": "y"}, "id: unknown field"),
        ("x", {"name": "no type"}, "job_type: required"),
    ],
)
async def test_invalid_definitions_are_refused_with_a_clear_message(
    web: Web, jobs_dir: Path, definition_id: str, body: dict[str, Any], fragment: str
) -> None:
    r = await web.client.put(f"/api/definitions/{definition_id}", json=body)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["detail"]
    assert not (jobs_dir / "x.toml").exists()


async def test_execute_returns_the_new_parent_job(web: Web) -> None:
    r = await web.client.post("/api/definitions/preloaded/execute")
    assert r.status_code == 201, r.text
    body = r.json()
    job_id = body["job_id"]
    assert body["definition"] == "preloaded" and body["job"]["id"] == job_id
    job = await web.app.store.get_job(job_id)
    assert job is not None and job.parent_id is None
    assert (job.job_type, job.name, job.config["children"]) == ("fanout", "Preloaded", 1)
    assert job.metadata == {"definition": "preloaded", "trigger": "api"}
    detail = (await web.client.get("/api/definitions/preloaded")).json()
    assert detail["last_run"]["id"] == job_id and detail["active_run_id"] == job_id
    await web.app.manager.cancel(job_id)
    detail = (await web.client.get("/api/definitions/preloaded")).json()
    assert detail["last_run"]["status"] == JobStatus.CANCELLED.value
    assert detail["active_run_id"] is None
    r = await web.client.post("/api/definitions/absent/execute")
    assert r.status_code == 404
    assert (await web.client.post("/api/definitions/broken/execute")).status_code == 422


async def test_disabled_definitions_can_still_be_run_by_hand(web: Web) -> None:
    await put(web, "off", job_type="noop", schedule="@daily", enabled=False)
    r = await web.client.post("/api/definitions/off/execute")
    assert r.status_code == 201


async def test_files_changed_by_hand_are_picked_up(web: Web, jobs_dir: Path) -> None:
    (jobs_dir / "handmade.toml").write_text('job_type = "noop"\n')
    ids = [d["id"] for d in (await web.client.get("/api/definitions")).json()["items"]]
    assert "handmade" in ids
    (jobs_dir / "handmade.toml").unlink()
    assert (await web.client.get("/api/definitions/handmade")).status_code == 404


async def test_credentials_are_redacted_and_kept(web: Web, jobs_dir: Path) -> None:
    web.app.job("authed")(_handler)
    config = {"token": "s3cret", "depth": 1}
    shown = await put(web, "authed", job_type="authed", config=config)
    assert shown["config"] == {"token": "<redacted>", "depth": 1}
    await put(web, "authed", 200, job_type="authed", config={**shown["config"], "depth": 2})
    assert 'token = "s3cret"' in (jobs_dir / "authed.toml").read_text()


async def _handler(ctx: Any) -> None:
    return None


async def test_token_is_required_when_configured(web_settings: Settings, jobs_dir: Path) -> None:
    web_settings.server.api_token = "t"
    web_settings.jobs.definitions_dir = str(jobs_dir)
    async with open_web(web_settings) as w:
        assert (await w.client.get("/api/definitions")).status_code == 401
        r = await w.client.get("/api/definitions", headers={"Authorization": "Bearer t"})
        assert r.status_code == 200 and r.json()["items"] == []


async def test_scheduler_follows_the_setting(web_settings: Settings, jobs_dir: Path) -> None:
    started: list[bool] = []
    original = Scheduler.start

    async def spy(self: Scheduler) -> None:
        started.append(True)
        await original(self)

    web_settings.jobs.definitions_dir = str(jobs_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Scheduler, "start", spy)
        async with open_web(web_settings):
            pass
        web_settings.jobs.scheduler = False
        async with open_web(web_settings):
            pass
    assert started == [True]
