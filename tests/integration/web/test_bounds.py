"""Integers no store can hold (2**63 and more, or negative where meaningless) are a 422
with a sentence on every endpoint, never a 500, on both backends' path through the API;
the WebSocket answers an error message and keeps the socket."""

from __future__ import annotations

import pytest

from quaero.config import Settings

from .conftest import Web, serve, ws_connect

HUGE = "9223372036854775808"  # 2**63
HUGER = "99999999999999999999999"

ENDPOINTS = [
    ("GET", "/api/jobs/{n}"),
    ("GET", "/api/jobs/{n}/explain"),
    ("GET", "/api/jobs/{n}/errors"),
    ("POST", "/api/jobs/{n}/retry"),
    ("POST", "/api/jobs/{n}/children/cancel"),
    ("GET", "/api/jobs/{n}/children"),
    ("GET", "/api/jobs/{n}/failures"),
    ("GET", "/api/jobs/{n}/logs"),
    ("GET", "/api/jobs/{n}/logs/aggregated"),
    ("POST", "/api/jobs/{n}/cancel"),
    ("POST", "/api/jobs/{n}/rerun"),
    ("DELETE", "/api/jobs/{n}"),
    ("GET", "/api/documents/{n}"),
    ("GET", "/api/jobs?offset={n}"),
    ("GET", "/api/jobs?parent_id={n}"),
    ("GET", "/api/jobs/1/children?offset={n}"),
    ("GET", "/api/jobs/1/failures?offset={n}"),
    ("GET", "/api/jobs/1/logs?cursor={n}"),
    ("GET", "/api/documents?offset={n}"),
    ("GET", "/api/documents?job_id={n}"),
    ("GET", "/api/documents?q=x&job_id={n}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("n", [HUGE, HUGER, "-1"])
async def test_out_of_range_integers_are_422(web: Web, method: str, path: str, n: str) -> None:
    await web.app.manager.create_job("noop", {}, "one")  # job 1 exists
    r = await web.client.request(method, path.format(n=n))
    assert r.status_code == 422, (method, path, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and len(detail) < 300, detail


async def test_largest_id_is_simply_not_found(web: Web) -> None:
    r = await web.client.get("/api/jobs/9223372036854775807")
    assert r.status_code == 404
    assert r.json() == {"detail": "job 9223372036854775807 not found"}


@pytest.mark.parametrize(
    "config",
    [
        {"children": 1, "child_max_attempts": 10**29},
        {"children": 1, "child_max_attempts": 2**63},
        {"children": 1, "child_config": {"sleep_ms": 1, "seed": 2**64}},
    ],
)
async def test_config_integers_out_of_range_are_refused(web: Web, config: dict) -> None:
    r = await web.client.post("/api/jobs", json={"job_type": "fanout", "config": config})
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str)
    assert (await web.client.get("/api/jobs")).json()["total"] == 0


async def test_websocket_huge_ids_get_an_error_and_keep_the_socket(
    web_settings: Settings,
) -> None:
    async with serve(web_settings) as live, ws_connect(live.ws_url) as ws:
        await ws.ready()
        for ids in ([2**63], [HUGE], [-1], [10**30]):
            await ws.send({"type": "subscribe", "job_ids": ids, "tree": True})
            msg = (await ws.until(lambda m: m["type"] in ("error", "subscribed")))[-1]
            assert msg["type"] == "error", msg
            assert "job_ids" in msg["payload"]["detail"]
        await ws.send({"type": "ping"})
        assert (await ws.until(lambda m: m["type"] == "pong"))[-1]["type"] == "pong"
        await ws.send({"type": "subscribe", "job_ids": [2**63 - 1], "tree": True})
        assert (await ws.until(lambda m: m["type"] in ("error", "subscribed")))[-1][
            "type"
        ] == "subscribed"


async def test_nul_characters_in_a_job_are_422(web: Web) -> None:
    for body in (
        {"job_type": "noop", "name": "a\u0000b"},
        {"job_type": "noop", "config": {"seed": "a\u0000b"}},
    ):
        r = await web.client.post("/api/jobs", json=body)
        assert r.status_code == 422, r.text
        assert "NUL" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/documents/by-url?url=%00x",
        "/api/documents?q=a%00b",
        "/api/jobs?q=a%00b",
        "/api/jobs?job_type=no%00op",
        "/api/jobs/1/children?job_type=a%00",
    ],
)
async def test_nul_in_query_parameters_is_422(web: Web, path: str) -> None:
    await web.app.manager.create_job("noop", {}, "one")
    r = await web.client.get(path)
    assert r.status_code == 422, r.text
    assert "NUL" in r.json()["detail"]
