"""healthz, metrics, job types, OpenAPI, the dashboard files and the API token."""

from __future__ import annotations

from pathlib import Path

import pytest

from quaero.app import App
from quaero.config import Settings
from quaero.errors import StoreError
from quaero.web import create_app

from .conftest import Web, open_web

ROOT = Path(__file__).resolve().parents[3]


async def test_lifespan_opens_and_closes_the_app(web_settings: Settings) -> None:
    app = App(web_settings)
    api = create_app(app)
    with pytest.raises(StoreError):
        app.store  # noqa: B018
    async with api.router.lifespan_context(api):
        assert await app.store.schema_version() >= 1
        assert api.state.hub.client_count == 0
    with pytest.raises(StoreError):
        app.store  # noqa: B018


async def test_healthz(web: Web) -> None:
    r = await web.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["store"] == "sqlite"
    assert body["websocket_clients"] == 0


async def test_job_types(web: Web) -> None:
    r = await web.client.get("/api/job-types")
    body = r.json()
    assert {"noop", "fanout"} <= set(body["items"])
    assert any(d["name"] == "fanout" and d["description"] for d in body["details"])


async def test_metrics_prometheus_text(web: Web) -> None:
    await web.client.post("/api/jobs", json={"job_type": "noop"})
    r = await web.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'quaero_jobs{scope="top_level",status="pending"} 1.0' in text
    assert 'quaero_jobs{scope="all",status="pending"} 1.0' in text
    for name in (
        "quaero_events_per_second",
        "quaero_status_changes_per_second",
        "quaero_websocket_clients 0.0",
        "quaero_claim_seconds_bucket",
        "quaero_claim_wait_seconds_bucket",
        "quaero_websocket_messages_total",
    ):
        assert name in text, name


async def test_openapi_and_docs(web: Web) -> None:
    r = await web.client.get("/openapi.json")
    paths = r.json()["paths"]
    for p in (
        "/api/jobs",
        "/api/jobs/stats",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/children",
        "/api/jobs/{job_id}/logs",
        "/api/jobs/{job_id}/logs/aggregated",
        "/api/jobs/{job_id}/cancel",
        "/api/jobs/{job_id}/rerun",
        "/api/job-types",
        "/healthz",
        "/metrics",
    ):
        assert p in paths, p
    assert {"get", "post"} <= set(paths["/api/jobs"])
    assert "delete" in paths["/api/jobs/{job_id}"]
    r = await web.client.get("/docs", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/#/api"  # the dashboard's page
    guide = await web.client.get("/docs/api.md")
    assert guide.status_code == 200 and guide.headers["content-type"].startswith("text/markdown")
    assert guide.text == (ROOT / "docs" / "api.md").read_text()  # docs/api.md, as is
    js = await web.client.get("/static/js/apidocs.js")
    assert js.status_code == 200 and "/openapi.json" in js.text
    assert "http://" not in js.text and "https://" not in js.text  # no CDN


async def test_dashboard_is_served_without_cdn(web: Web) -> None:
    r = await web.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "<nav" in html and "/static/" in html
    assert "http://" not in html and "https://" not in html  # every asset is local
    r = await web.client.get("/static/css/app.css")
    assert r.status_code == 200
    r = await web.client.get("/static/js/app.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    r = await web.client.get("/static/nope.js")
    assert r.status_code == 404


async def test_unknown_route_is_json_404(web: Web) -> None:
    r = await web.client.get("/api/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"detail": "nothing at GET /api/nothing-here (the API is at /docs)"}
    r = await web.client.put("/api/jobs", json={})
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"  # every route's
    assert r.json() == {"detail": "method PUT not allowed here; use GET or POST"}


async def test_api_token(web_settings: Settings) -> None:
    web_settings.server.api_token = "s3cret"
    async with open_web(web_settings) as web:
        for path in ("/api/jobs", "/api/jobs/stats", "/api/job-types", "/metrics"):
            r = await web.client.get(path)
            assert r.status_code == 401, path
            assert r.json() == {"detail": "missing or invalid API token"}
            assert r.headers["www-authenticate"] == "Bearer"
        r = await web.client.post("/api/jobs", json={"job_type": "noop"})
        assert r.status_code == 401
        r = await web.client.get("/api/jobs", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await web.client.get("/api/jobs", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200
        r = await web.client.get("/api/jobs", params={"token": "s3cret"})
        assert r.status_code == 200
        # probes and the dashboard shell need no token (the shell asks for it)
        assert (await web.client.get("/healthz")).status_code == 200
        assert (await web.client.get("/")).status_code == 200
