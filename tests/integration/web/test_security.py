"""Cross-site defences through the real app: Host allow-list (DNS rebinding), Origin and
Referer checks on state-changing requests and on /ws, the dashboard's security headers."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets

from quaero.config import Settings

from .conftest import Web, open_web, serve, ws_connect


async def test_foreign_host_is_refused_everywhere(web: Web) -> None:
    for method, path in [("GET", "/api/jobs"), ("GET", "/"), ("POST", "/api/jobs")]:
        r = await web.client.request(
            method, path, headers={"host": "rebind.evil.example"}, json={"job_type": "noop"}
        )
        assert r.status_code == 403, (method, path)
        assert "host 'rebind.evil.example' is not allowed" in r.json()["detail"]
    for host in ("localhost:8080", "127.0.0.1", "[::1]:9"):
        assert (await web.client.get("/api/jobs", headers={"host": host})).status_code == 200


async def test_configured_hosts(web_settings: Settings) -> None:
    web_settings.server.allowed_hosts = ["jobs.internal"]
    async with open_web(web_settings) as w:
        ok = await w.client.get("/api/jobs", headers={"host": "jobs.internal:8080"})
        assert ok.status_code == 200
        assert (await w.client.get("/api/jobs")).status_code == 403  # localhost not listed


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # not from a web page (curl, the CLI)
        ({"origin": "http://localhost"}, True),
        ({"origin": "http://evil.example"}, False),
        ({"origin": "http://localhost:9999"}, False),  # another port is another origin
        ({"origin": "null"}, False),
        ({"referer": "http://localhost/#/jobs"}, True),
        ({"referer": "http://evil.example/page"}, False),
        ({"origin": "https://dash.example"}, True),  # [server] allowed_origins
    ],
)
async def test_state_changing_requests_check_origin(
    web_settings: Settings, tmp_path: Path, headers: dict[str, str], allowed: bool
) -> None:
    web_settings.server.allowed_origins = ["https://dash.example"]
    web_settings.jobs.definitions_dir = str(tmp_path / "jobs")
    async with open_web(web_settings) as w:
        job = await w.app.manager.create_job("noop", {}, "victim")
        for method, path, body in [
            ("POST", f"/api/jobs/{job.id}/cancel", None),
            ("POST", f"/api/jobs/{job.id}/rerun", None),
            ("POST", "/api/jobs", {"job_type": "noop"}),
            ("PUT", "/api/definitions/x", {"job_type": "noop"}),
            ("DELETE", f"/api/jobs/{job.id}?cancel=true", None),
        ]:
            r = await w.client.request(method, path, headers=headers, json=body)
            if allowed:
                assert r.status_code < 400, (method, path, r.text)
            else:
                assert r.status_code == 403, (method, path, r.text)
                assert "cross-origin request" in r.json()["detail"]
        if not allowed:  # nothing happened
            assert (await w.app.store.get_job(job.id)).status.value == "pending"  # type: ignore[union-attr]
        # reads are not state-changing: a foreign page cannot read them anyway (no CORS)
        assert (await w.client.get("/api/jobs", headers=headers)).status_code == 200


async def test_dashboard_and_api_headers(web: Web) -> None:
    for path in ("/", "/docs", "/static/js/app.js", "/api/jobs", "/api/jobs/999"):
        r = await web.client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-frame-options"] == "DENY"


async def test_websocket_refuses_foreign_host_and_origin(web_settings: Settings) -> None:
    async with serve(web_settings) as live:
        async with ws_connect(live.ws_url, origin=f"http://127.0.0.1:{live.port}") as ws:
            await ws.ready()
        for kwargs in (
            {"origin": "http://evil.example"},
            {"additional_headers": {"Host": "rebind.evil.example"}},
        ):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with ws_connect(live.ws_url, **kwargs):
                    pass
            assert refused.value.response.status_code == 403
