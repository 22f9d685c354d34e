"""REST ``/api/workers``, ``/api/jobs/{id}/explain`` and refused submits (SQLite)."""

from __future__ import annotations

import os
import time

import pytest

from quaero.config import Settings
from quaero.store.base import JobQuery

from .conftest import Web, open_web


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"children": 2, "child_type": "doesnotexist"}, "child_type: unknown job type"),
        ({"children": 2, "child_config": {"sleep_ms": "x"}}, "child_config: sleep_ms must be"),
        ({"children": 2, "child_max_attempts": -3}, "child_max_attempts must be an integer"),
    ],
)
async def test_fanout_with_bad_children_is_refused_and_nothing_is_created(
    web: Web, config: dict[str, object], fragment: str
) -> None:
    r = await web.client.post("/api/jobs", json={"job_type": "fanout", "config": config})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert fragment in detail, detail
    assert (await web.app.store.list_jobs(JobQuery(limit=1))).total == 0
    assert (await web.app.store.event_bounds())[1] == 0  # not even an event


async def test_unknown_type_lists_the_known_types(web: Web) -> None:
    r = await web.client.post("/api/jobs", json={"job_type": "doesnotexist"})
    assert r.status_code == 422
    assert r.json() == {
        "detail": "unknown job type 'doesnotexist' (registered: fanout, noop)",
    }


async def test_external_types_are_accepted_when_configured(web_settings: Settings) -> None:
    web_settings.jobs.external_types = ["remote"]
    async with open_web(web_settings) as web:
        r = await web.client.post(
            "/api/jobs",
            json={"job_type": "fanout", "config": {"children": 2, "child_type": "remote"}},
        )
        assert r.status_code == 201, r.text
        r = await web.client.post("/api/jobs", json={"job_type": "other"})
        assert r.status_code == 422
        assert "external: remote" in r.json()["detail"]


async def test_workers_lists_the_in_process_worker(web_settings: Settings) -> None:
    async with open_web(web_settings, workers=True) as web:
        r = await web.client.get("/api/workers")
        assert r.status_code == 200
        body = r.json()
        [w] = body["items"]
        assert body["live"] == 1 and body["job_types"] == ["fanout", "noop"]
        assert w["pid"] == os.getpid() and w["live"] is True
        assert w["concurrency"] == web_settings.worker.concurrency
        assert w["job_types"] == ["fanout", "noop"] and w["running"] == 0
        assert w["heartbeat_age_seconds"] < 30 and w["expires_at"].endswith("Z")
        # a worker that stopped heartbeating (another process, killed): expired
        rows = await web.app.store.list_workers()
        dead = rows[0]
        dead.id, dead.heartbeat_at, dead.expires_at = "dead", time.time() - 60, time.time() - 30
        await web.app.store.register_worker(dead)
        assert [x["id"] for x in (await web.client.get("/api/workers")).json()["items"]] == [
            w["id"]
        ]
        r = await web.client.get("/api/workers?include_expired=true")
        items = {x["id"]: x for x in r.json()["items"]}
        assert set(items) == {w["id"], "dead"} and items["dead"]["live"] is False
        assert r.json()["live"] == 1
    # a graceful stop removed the in-process worker's row
    async with open_web(web_settings) as web:
        r = await web.client.get("/api/workers?include_expired=1")
        assert [x["id"] for x in r.json()["items"]] == ["dead"]


async def test_explain(web_settings: Settings) -> None:
    async with open_web(web_settings, workers=True) as web:
        r = await web.client.post(
            "/api/jobs",
            json={"job_type": "fanout", "config": {"children": 3, "child_config": {"sleep_ms": 1}}},
        )
        job = r.json()
        await web.app.wait(job["id"], timeout=30)
        r = await web.client.get(f"/api/jobs/{job['id']}/explain")
        assert r.status_code == 200
        body = r.json()
        assert body["done"] is True and body["reasons"][0]["kind"] == "done"
        assert body["summary"] == [body["reasons"][0]["message"]]
        assert body["children"]["counts"]["completed"] == 3
        assert body["workers"]["live"] == 1
    async with open_web(web_settings) as web:  # no worker: a new job cannot start
        r = await web.client.post("/api/jobs", json={"job_type": "fanout"})
        body = (await web.client.get(f"/api/jobs/{r.json()['id']}/explain")).json()
        assert [x["kind"] for x in body["reasons"]] == ["no_live_worker", "waiting_for_worker"]
        assert body["handler"] is None and body["children"]["pending"] is None
        r = await web.client.get("/api/jobs/424242/explain")
        assert r.status_code == 404 and r.json() == {"detail": "job 424242 not found"}
        r = await web.client.get("/api/jobs/abc/explain")  # not an id: no such route
        assert r.status_code == 404
        r = await web.client.get("/api/jobs/9223372036854775808/explain")
        assert r.status_code == 422


async def test_openapi_documents_the_routes(web: Web) -> None:
    spec = (await web.client.get("/openapi.json")).json()
    assert "/api/workers" in spec["paths"] and "/api/jobs/{job_id}/explain" in spec["paths"]
    explain = spec["paths"]["/api/jobs/{job_id}/explain"]["get"]
    assert explain["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ExplainOut"
    }
