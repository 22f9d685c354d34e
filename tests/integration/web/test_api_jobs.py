"""REST ``/api/jobs`` through the real ASGI app (lifespan on, SQLite store, no workers)."""

from __future__ import annotations

import asyncio
import time

import pytest

from quaero.jobs.models import JobStatus, StatusChange, job_to_dict
from quaero.store.base import LogEntry

from .conftest import Web, make_tree, open_web

SEED_COUNTS = {"total", "pending", "running", "completed", "failed", "cancelled"}


async def create(web: Web, job_type: str = "noop", name: str = "", **config: object) -> dict:
    r = await web.client.post(
        "/api/jobs", json={"job_type": job_type, "name": name, "config": config}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_and_get(web: Web) -> None:
    job = await create(web, "fanout", "demo", children=3, child_config={"sleep_ms": 1})
    assert job["job_type"] == "fanout" and job["name"] == "demo"
    assert job["status"] == "pending" and job["overall_status"] == "pending"
    assert job["config"]["children"] == 3
    assert job["progress_text"] == "0 pending, 0 running, 0 completed, 0 failed"
    assert set(job["children"]) == SEED_COUNTS
    assert job["created_at"].endswith("Z")
    r = await web.client.get(f"/api/jobs/{job['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == job["id"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"job_type": "nope"}, 422, "unknown job type 'nope'"),
        ({"job_type": "fanout", "config": {"children": -1}}, 422, "children must be"),
        ({"job_type": "fanout", "config": {"bogus": 1}}, 422, "unknown fanout option"),
        ({"job_type": "noop", "config": []}, 422, "config"),
        ({"name": "x"}, 422, "job_type: required"),
        ({"job_type": "noop", "extra": 1}, 422, "extra: unknown field"),
        ({"job_type": ""}, 422, "job_type"),
    ],
)
async def test_create_bad_input(web: Web, body: dict, status: int, fragment: str) -> None:
    r = await web.client.post("/api/jobs", json=body)
    assert r.status_code == status
    detail = r.json()["detail"]
    assert isinstance(detail, str) and fragment in detail, detail


async def test_malformed_and_oversized_bodies(web: Web) -> None:
    r = await web.client.post(
        "/api/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {"detail": "request body is not valid JSON"}
    big = b'{"job_type": "noop", "name": "' + b"x" * 1_100_000 + b'"}'
    r = await web.client.post(
        "/api/jobs", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]

    async def chunks():  # no Content-Length: the limit applies to the stream too
        for _ in range(30):
            yield b" " * 50_000

    r = await web.client.post(
        "/api/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


async def test_job_object_carries_elapsed_rate_and_eta(web: Web) -> None:
    """docs/api.md's Job object: elapsed_seconds, rate and eta_seconds, on every read of a
    job (one, a list, a children page), as the engine computes them (job_to_dict)."""
    store = web.app.store
    parent, _ = await make_tree(web.app, 4)

    async def finish_one() -> None:
        [child] = await store.claim_jobs("w", 1, 60, ["noop"])
        [res] = await store.apply_changes(
            [StatusChange(child.id, JobStatus.COMPLETED, expect_owner="w", handler_done=True)]
        )
        assert res.ok, res.error

    await finish_one()
    await asyncio.sleep(1.1)  # the rate needs 1 s of history (progress.SAMPLE_EVERY)
    await finish_one()
    job = (await web.client.get(f"/api/jobs/{parent}")).json()
    assert job["elapsed_seconds"] >= 1.1
    assert job["rate"] is not None and job["rate"] > 0
    assert job["eta_seconds"] == pytest.approx(2 / job["rate"])
    stored = await store.get_job(parent)
    assert stored is not None
    # the rate is read at "now": reads a few ms apart differ a little
    assert job["rate"] == pytest.approx(job_to_dict(stored)["rate"], rel=0.05)
    [listed] = (await web.client.get("/api/jobs", params={"parent_id": "root"})).json()["items"]
    assert listed["rate"] == pytest.approx(job["rate"], rel=0.05)
    assert listed["eta_seconds"] == pytest.approx(2 / listed["rate"])
    kids = (await web.client.get(f"/api/jobs/{parent}/children")).json()["items"]
    # a job without children has no rate; its elapsed time counts from its start
    assert all(k["rate"] is None and k["eta_seconds"] is None for k in kids)
    assert {k["elapsed_seconds"] is None for k in kids} == {True, False}  # 2 never started
    schema = (await web.client.get("/openapi.json")).json()["components"]["schemas"]["JobOut"]
    assert {"elapsed_seconds", "rate", "eta_seconds"} <= set(schema["properties"])


async def test_unknown_ids_are_404(web: Web) -> None:
    for method, path in [
        ("GET", "/api/jobs/999"),
        ("GET", "/api/jobs/999/children"),
        ("GET", "/api/jobs/999/logs"),
        ("GET", "/api/jobs/999/logs/aggregated"),
        ("POST", "/api/jobs/999/cancel"),
        ("POST", "/api/jobs/999/rerun"),
        ("DELETE", "/api/jobs/999"),
    ]:
        r = await web.client.request(method, path)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"detail": "job 999 not found"}
    r = await web.client.get("/api/jobs/abc")  # not an id: no such route
    assert r.status_code == 404 and "nothing at GET /api/jobs/abc" in r.json()["detail"]
    r = await web.client.delete("/api/jobs/stats")  # stats is not a job id
    assert r.status_code == 405 and r.headers["allow"] == "GET"


async def test_list_filters_paging_and_ordering(web: Web) -> None:
    parent, kids = await make_tree(web.app, 5, name="alpha parent")
    for name in ("beta", "gamma", "beta two"):
        await create(web, name=name)
    await web.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
    await web.app.manager.update_job_status(kids[0], JobStatus.FAILED, error="boom")

    r = await web.client.get("/api/jobs", params={"parent_id": "root"})
    page = r.json()
    assert page["total"] == 4 and page["limit"] == 50 and page["offset"] == 0
    assert isinstance(page["seq"], int) and page["seq"] > 0
    assert [j["name"] for j in page["items"]] == ["beta two", "gamma", "beta", "alpha parent"]
    row = page["items"][-1]
    assert row["children"] == {
        "total": 5,
        "pending": 4,
        "running": 0,
        "completed": 0,
        "failed": 1,
        "cancelled": 0,
    }
    assert row["progress_text"] == "4 pending, 0 running, 0 completed, 1 failed"
    assert row["overall_status"] == "running"

    r = await web.client.get("/api/jobs", params={"parent_id": "root", "q": "beta"})
    assert {j["name"] for j in r.json()["items"]} == {"beta", "beta two"}
    r = await web.client.get(
        "/api/jobs", params={"parent_id": "root", "order_by": "name", "direction": "asc"}
    )
    assert [j["name"] for j in r.json()["items"]][:2] == ["alpha parent", "beta"]
    r = await web.client.get("/api/jobs", params={"parent_id": "root", "limit": 2, "offset": 2})
    assert r.json()["total"] == 4 and len(r.json()["items"]) == 2
    r = await web.client.get("/api/jobs", params=[("status", "failed"), ("status", "running")])
    assert {j["status"] for j in r.json()["items"]} == {"failed", "running"}
    assert r.json()["total"] == 2  # the failed child and the running parent
    r = await web.client.get("/api/jobs", params={"status": "pending,failed", "job_type": "noop"})
    assert r.json()["total"] == 3 + 4 + 1
    r = await web.client.get("/api/jobs", params={"parent_id": str(parent)})
    assert r.json()["total"] == 5
    r = await web.client.get("/api/jobs")
    assert r.json()["total"] == 9


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "bogus"}, "unknown status 'bogus'"),
        ({"order_by": "name; DROP TABLE jobs"}, "cannot order by"),
        ({"order_by": "config"}, "cannot order by 'config'"),
        ({"direction": "sideways"}, "direction"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"parent_id": "x"}, "parent_id must be 'root' or a job id"),
        ({"parent_id": "0"}, "parent_id must be 'root' or a job id"),
        ({"parent_id": "9223372036854775808"}, "parent_id must be 'root' or a job id"),
        ({"offset": "9223372036854775808"}, "offset"),
        ({"offset": "99999999999999999999999"}, "offset"),
    ],
)
async def test_list_bad_filters(web: Web, params: dict, fragment: str) -> None:
    r = await web.client.get("/api/jobs", params=params)
    assert r.status_code == 422
    assert fragment in r.json()["detail"], r.json()


async def test_children_page_and_filter(web: Web) -> None:
    parent, kids = await make_tree(web.app, 120)
    for k in kids[:7]:
        await web.app.manager.update_job_status(k, JobStatus.RUNNING)
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"limit": 50})
    page = r.json()
    assert page["total"] == 120 and [j["id"] for j in page["items"]] == kids[:50]
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"limit": 50, "offset": 100})
    assert [j["id"] for j in r.json()["items"]] == kids[100:]
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"status": "running"})
    assert r.json()["total"] == 7
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"limit": 501})
    assert r.status_code == 422
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"status": "nope"})
    assert r.status_code == 422


async def test_stats(web: Web) -> None:
    await make_tree(web.app, 3)
    await create(web)
    r = await web.client.get("/api/jobs/stats")
    stats = r.json()
    assert stats["top_level"]["running"] == 1 and stats["top_level"]["pending"] == 1
    assert stats["top_level"]["total"] == 2
    assert stats["all"]["pending"] == 4 and stats["all"]["total"] == 5
    assert isinstance(stats["seq"], int)


async def test_logs_levels_order_cursor_and_aggregated(web: Web) -> None:
    parent, kids = await make_tree(web.app, 2)
    t = 1_000.0
    await web.app.store.add_logs(
        [
            LogEntry(parent, "debug", "p-debug", t),
            LogEntry(kids[0], "info", "k0-info", t + 1),
            LogEntry(parent, "warning", "p-warning", t + 2),
            LogEntry(kids[1], "error", "k1-error", t + 3),
            LogEntry(parent, "error", "p-error", t + 4),
        ]
    )
    r = await web.client.get(f"/api/jobs/{parent}/logs")
    own = [e["message"] for e in r.json()["items"]]
    assert own[-3:] == ["p-debug", "p-warning", "p-error"]
    assert all(e["job_id"] == parent for e in r.json()["items"])
    r = await web.client.get(f"/api/jobs/{parent}/logs", params={"level": "warning"})
    assert [e["message"] for e in r.json()["items"]] == ["p-warning", "p-error"]
    r = await web.client.get(f"/api/jobs/{parent}/logs", params={"order": "desc", "limit": 2})
    body = r.json()
    assert [e["message"] for e in body["items"]] == ["p-error", "p-warning"]
    assert body["next_cursor"] is not None
    r = await web.client.get(
        f"/api/jobs/{parent}/logs",
        params={"order": "desc", "limit": 2, "cursor": body["next_cursor"]},
    )
    assert r.json()["items"][0]["message"] == "p-debug"

    r = await web.client.get(f"/api/jobs/{parent}/logs/aggregated", params={"level": "info"})
    msgs = [e["message"] for e in r.json()["items"]]
    assert msgs[-4:] == ["k0-info", "p-warning", "k1-error", "p-error"]
    ids = [e["id"] for e in r.json()["items"]]
    assert ids == sorted(ids)
    # page through the aggregated log two lines at a time: same lines, no repeats
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"level": "info", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await web.client.get(f"/api/jobs/{parent}/logs/aggregated", params=params)
        seen += [e["message"] for e in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == msgs

    for params in ({"level": "loud"}, {"order": "up"}, {"cursor": "abc"}, {"limit": 0}):
        r = await web.client.get(f"/api/jobs/{parent}/logs", params=params)
        assert r.status_code == 422, params
        assert isinstance(r.json()["detail"], str)


async def test_cancel_subtree(web: Web) -> None:
    parent, kids = await make_tree(web.app, 4)
    await web.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
    r = await web.client.post(f"/api/jobs/{parent}/cancel")
    assert r.status_code == 200
    assert r.headers["x-quaero-cancelled"] == "5"
    job = r.json()
    assert job["status"] == "cancelled"
    assert job["children"]["cancelled"] == 4 and job["children"]["pending"] == 0
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"status": "cancelled"})
    assert r.json()["total"] == 4
    r = await web.client.post(f"/api/jobs/{parent}/cancel")  # idempotent
    assert r.status_code == 200 and r.headers["x-quaero-cancelled"] == "0"


async def test_delete_refuses_active_then_cancel_deletes(web: Web) -> None:
    parent, kids = await make_tree(web.app, 3)
    r = await web.client.delete(f"/api/jobs/{parent}")
    assert r.status_code == 409
    assert "cancel" in r.json()["detail"] and "?cancel=true" in r.json()["detail"]
    assert (await web.client.get(f"/api/jobs/{parent}")).status_code == 200
    r = await web.client.delete(f"/api/jobs/{parent}", params={"cancel": "true"})
    assert r.status_code == 204 and r.content == b""
    for job_id in (parent, *kids):
        assert (await web.client.get(f"/api/jobs/{job_id}")).status_code == 404
    r = await web.client.delete(f"/api/jobs/{parent}", params={"cancel": "maybe"})
    assert r.status_code == 422


async def test_rerun_really_runs(web_settings) -> None:  # type: ignore[no-untyped-def]
    async with open_web(web_settings, workers=True) as web:
        job = await create(web, "fanout", "again", children=5)
        done = await web.app.wait(job["id"], timeout=30)
        assert done.status is JobStatus.COMPLETED
        r = await web.client.post(f"/api/jobs/{job['id']}/rerun")
        assert r.status_code == 201
        new = r.json()
        assert new["id"] != job["id"]
        assert new["config"] == job["config"] and new["name"] == "again"
        assert new["metadata"] == {"rerun_of": job["id"]}
        rerun = await web.app.wait(new["id"], timeout=30)
        assert rerun.status is JobStatus.COMPLETED and rerun.children.completed == 5
        # the in-process workers feed the claim and status-change metrics; the status
        # changes are counted from the events, which may reach the server's event hub
        # after wait() saw the job finished in the store: wait for them to be counted
        completed = 'quaero_job_status_changes_total{status="completed"}'
        samples: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while float(samples.get(completed, 0)) < 12:  # 2 parents + 10 children
            assert time.monotonic() < deadline, samples.get(completed)
            await asyncio.sleep(0.05)
            text = (await web.client.get("/metrics")).text
            samples = dict(
                line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#"
            )
        assert float(samples["quaero_claim_seconds_count"]) > 0
        assert float(samples["quaero_claim_wait_seconds_count"]) >= 12  # 2 parents + 10
