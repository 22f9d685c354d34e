"""A parent whose children retention pruned: exact totals in the API and the WebSocket
snapshot, and a children listing that says they were pruned (not "0 children")."""

from __future__ import annotations

import time

from quaero.jobs.models import JobStatus
from quaero.jobs.retention import Pruner

from .conftest import LiveServer, Web, make_tree, ws_connect


async def finished_tree(app: object, n: int) -> tuple[int, list[int]]:
    parent, kids = await make_tree(app, n)  # type: ignore[arg-type]
    manager = app.manager  # type: ignore[attr-defined]
    for i, kid in enumerate(kids):
        await manager.update_job_status(kid, JobStatus.RUNNING)
        await manager.update_job_status(
            kid, JobStatus.FAILED if i == 0 else JobStatus.COMPLETED, error="boom"
        )
    await manager.update_job_status(parent, JobStatus.COMPLETED)
    return parent, kids


async def test_pruned_children_keep_the_parents_totals_in_the_api(web: Web) -> None:
    parent, kids = await finished_tree(web.app, 3)
    before = (await web.client.get(f"/api/jobs/{parent}")).json()
    assert before["children_pruned_at"] is None
    pruner = Pruner(web.app.store, web.app.settings.retention)
    await pruner.run_once(older_than=0, children_only=True, now=time.time() + 1)
    job = (await web.client.get(f"/api/jobs/{parent}")).json()
    assert job["children"] == {**before["children"], "total": 3, "completed": 2, "failed": 1}
    assert job["children_pruned_at"] is not None
    assert job["progress_text"] == before["progress_text"]
    assert (job["started_at"], job["completed_at"]) == (
        before["started_at"],
        before["completed_at"],
    )
    page = (await web.client.get(f"/api/jobs/{parent}/children")).json()
    assert page["items"] == [] and page["total"] == 0 and page["children_pruned"] is True
    page = (await web.client.get("/api/jobs", params={"parent_id": parent})).json()
    assert page["items"] == [] and page["children_pruned"] is True
    assert (await web.client.get(f"/api/jobs/{kids[0]}")).status_code == 404
    other, _ = await make_tree(web.app, 1)
    page = (await web.client.get(f"/api/jobs/{other}/children")).json()
    assert page["total"] == 1 and page["children_pruned"] is False
    logs = (await web.client.get(f"/api/jobs/{parent}/logs")).json()["items"]
    # two completed and one failed child: failed wins (the one overall-status rule)
    assert [e["message"] for e in logs][-1] == f"Status changed: {before['status']}"


async def test_websocket_snapshot_shows_the_kept_summary(live: LiveServer) -> None:
    parent, _ = await finished_tree(live.app, 2)
    await Pruner(live.app.store, live.app.settings.retention).run_once(
        older_than=0, children_only=True, now=time.time() + 1
    )
    await live.app.store.prune_events(time.time() + 60)
    async with ws_connect(f"{live.ws_url}?after=1") as ws:
        snap = await ws.recv()
        assert snap["type"] == "snapshot"
        [job] = [j for j in snap["payload"]["jobs"] if j["id"] == parent]
        assert job["children"]["total"] == 2 and job["children"]["completed"] == 1
        assert job["children"]["failed"] == 1 and job["children_pruned_at"] is not None


async def test_documents_outlive_their_crawl_until_deleted(web: Web) -> None:
    from quaero.documents.models import NewDocument

    crawl, _ = await finished_tree(web.app, 1)
    store = web.app.store
    for i in range(2):
        await store.save_document(NewDocument(f"http://d/{i}", f"t{i}", "b"), crawl, crawl)
    await Pruner(store, web.app.settings.retention).run_once(older_than=0, now=time.time() + 1)
    assert (await web.client.get(f"/api/jobs/{crawl}")).status_code == 404
    page = (await web.client.get("/api/documents", params={"job_id": crawl})).json()
    assert page["total"] == 2
    r = await web.client.delete("/api/documents", params={"job_id": crawl})
    assert r.status_code == 200
    assert r.json() == {"job_id": crawl, "deleted": 2, "unlinked": 0}
    r = await web.client.get("/api/documents", params={"job_id": crawl})
    assert r.status_code == 404
    r = await web.client.delete("/api/documents")
    assert r.status_code == 422 and "job_id" in r.json()["detail"]
