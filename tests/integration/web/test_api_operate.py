"""REST: retry in place, bulk actions on children, error groups (real ASGI app, SQLite)."""

from __future__ import annotations

from quaero.jobs.models import JobStatus, StatusChange

from .conftest import Web, make_tree


async def fail_children(web: Web, ids: list[int], errors: list[str]) -> None:
    store = web.app.store
    claimed = await store.claim_jobs("w", len(ids), 60, ["noop"])
    assert sorted(j.id for j in claimed) == sorted(ids)
    await store.apply_changes(
        [
            StatusChange(i, JobStatus.FAILED, error=e, expect_owner="w")
            for i, e in zip(ids, errors, strict=True)
        ]
    )


async def test_retry_a_failed_child_in_place(web: Web) -> None:
    parent, kids = await make_tree(web.app, 3)
    await fail_children(web, kids[:1], ["ValueError: bad row 3"])
    r = await web.client.post(f"/api/jobs/{kids[0]}/retry", json={})
    assert r.status_code == 200, r.text
    assert r.json() == {"changed": 1, "refused": 0, "matched": 1}
    job = (await web.client.get(f"/api/jobs/{kids[0]}")).json()
    assert job["status"] == "pending" and job["attempts"] == 0 and job["error"] is None
    # a pending job is not retryable: 409 with a sentence
    r = await web.client.post(f"/api/jobs/{kids[0]}/retry")
    assert r.status_code == 409
    assert r.json() == {
        "detail": f"job {kids[0]} is pending: only failed or cancelled jobs can be retried"
    }
    assert (await web.client.post("/api/jobs/999999/retry", json={})).status_code == 404
    r = await web.client.post(f"/api/jobs/{parent}/retry", json={"children": "everything"})
    assert r.status_code == 422 and "children" in r.json()["detail"]


async def test_retry_failed_children_and_error_groups(web: Web) -> None:
    parent, kids = await make_tree(web.app, 5)
    await fail_children(
        web,
        kids[:4],
        ["http_503: Service Unavailable", "http_503: down", "timeout: 10 s", "KeyError: 'x'"],
    )
    r = await web.client.get(f"/api/jobs/{parent}/errors")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(g["key"], g["count"]) for g in items] == [
        ("http_503", 2),
        ("KeyError: <str>", 1),
        ("timeout", 1),
    ]
    assert sorted(items[0]["sample_job_ids"]) == kids[:2]
    assert items[0]["last_seen"].endswith("Z")
    r = await web.client.get(f"/api/jobs/{parent}/children", params={"error_group": "http_503"})
    assert [j["id"] for j in r.json()["items"]] == kids[:2]
    assert r.json()["items"][0]["error_group"] == "http_503"
    r = await web.client.post(
        f"/api/jobs/{parent}/children/retry", json={"error_group": "http_503"}
    )
    assert r.json() == {"changed": 2, "refused": 0, "matched": 2}
    r = await web.client.post(f"/api/jobs/{parent}/retry", json={"children": "failed"})
    assert r.json() == {"changed": 2, "refused": 0, "matched": 2}
    assert (await web.client.get(f"/api/jobs/{parent}/errors")).json() == {"items": []}
    job = (await web.client.get(f"/api/jobs/{parent}")).json()
    assert job["children"]["pending"] == 5 and job["descendants"]["pending"] == 5
    assert (await web.client.get("/api/jobs/999999/errors")).status_code == 404


async def test_bulk_cancel_and_delete(web: Web) -> None:
    parent, kids = await make_tree(web.app, 4)
    await fail_children(web, kids[:1], ["boom"])
    r = await web.client.post(f"/api/jobs/{parent}/children/cancel", json={"status": ["pending"]})
    assert r.json() == {"changed": 3, "refused": 0, "matched": 3}
    r = await web.client.post(f"/api/jobs/{parent}/children/cancel", json={})
    assert r.json() == {"changed": 0, "refused": 4, "matched": 4}
    r = await web.client.post(f"/api/jobs/{parent}/children/delete", json={"status": ["cancelled"]})
    assert r.json() == {"changed": 3, "refused": 0, "matched": 3}
    job = (await web.client.get(f"/api/jobs/{parent}")).json()
    assert job["children"] == {
        "total": 1,
        "pending": 0,
        "running": 0,
        "completed": 0,
        "failed": 1,
        "cancelled": 0,
    }
    await web.client.post(f"/api/jobs/{kids[0]}/retry", json={})
    r = await web.client.post(f"/api/jobs/{parent}/children/delete", json={"subtree": True})
    assert r.status_code == 409
    assert "pending or running" in r.json()["detail"]
    assert (await web.app.store.get_job(kids[0])) is not None  # nothing deleted
    r = await web.client.post(f"/api/jobs/{parent}/children/explode", json={})
    assert r.status_code == 422
    r = await web.client.post(f"/api/jobs/{parent}/children/cancel", json={"status": ["nope"]})
    assert r.status_code == 422 and "unknown status 'nope'" in r.json()["detail"]
    r = await web.client.post(f"/api/jobs/{parent}/children/cancel", json={"bogus": 1})
    assert r.status_code == 422
