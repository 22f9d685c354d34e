"""REST ``/api/documents``, ``/api/jobs/{id}/failures`` and the ``crawl`` summary of a job.

A real crawl of the generated local site (tests/support/site.py) runs through the ASGI
app with a worker where the crawl's truth matters; documents saved directly with
``store.save_document`` cover search, paging and bad input.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from quaero.app import App
from quaero.config import Settings
from quaero.crawler.jobs import register
from quaero.documents.models import NewDocument
from quaero.jobs.models import JobStatus
from quaero.web import create_app
from tests.support.site import TestSite

from .conftest import Web, make_tree, open_web, serve, ws_connect

# ------------------------------------------------------------------ a real crawl


@contextlib.asynccontextmanager
async def crawler_web(settings: Settings) -> AsyncIterator[Web]:
    """The app with the crawler registered and a worker pool running."""
    app = App(settings)
    register(app)
    api = create_app(app, workers=True)
    async with api.router.lifespan_context(api):
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            yield Web(app, api, c)


@dataclass
class Crawled:
    web: Web
    site: TestSite
    job: dict[str, Any]


async def crawl(web: Web, site: TestSite, **config: Any) -> dict[str, Any]:
    cfg = {
        "start_urls": [site.url("/")],
        "allow_private_networks": True,
        "max_body_size": 1024 * 1024,
        "request_timeout": 5,
        "skip_extensions": False,  # as site.expected() assumes: binaries fail on content type
        **config,
    }
    r = await web.client.post("/api/jobs", json={"job_type": "crawl", "config": cfg})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["crawl"]["discovery_open"] is True
    await web.app.wait(created["id"], timeout=60)
    r = await web.client.get(f"/api/jobs/{created['id']}")
    assert r.status_code == 200
    job: dict[str, Any] = r.json()
    return job


@pytest.fixture
async def crawled(web_settings: Settings) -> AsyncIterator[Crawled]:
    # a 2 MB "huge" page over a 1 MB limit: too_large, as with the defaults, but faster
    async with (
        TestSite(slow_delay=0.05, huge_size=2 * 1024 * 1024) as site,
        crawler_web(web_settings) as web,
    ):
        job = await crawl(web, site, max_depth=1)
        yield Crawled(web, site, job)


async def test_crawl_summary_tells_the_truth(crawled: Crawled) -> None:
    job = crawled.job
    c, stats, summary = job["children"], job["stats"], job["crawl"]
    assert job["overall_status"] == "failed"  # the site has a redirect loop
    skipped = {k.removeprefix("skipped_"): v for k, v in stats.items() if k.startswith("skipped_")}
    assert summary == {
        "discovered": c["total"] + skipped.get("budget", 0),
        "pending": 0,
        "running": 0,
        "completed": c["completed"],
        "failed": c["failed"],
        "skipped": sum(skipped.values()),
        "skipped_by_reason": skipped,
        "discovery_open": False,
        "documents": job["result_count"],
        "broken_links": stats["broken_links"],
        "aliases": stats["aliases"],
        "requests": stats["requests"],
        "redirects": stats["aliases_redirect"],
    }
    assert summary["redirects"] >= 4  # /redirect/301, /302 and the chain
    assert summary["skipped_by_reason"]["robots"] >= 1  # /private/ is disallowed
    assert summary["skipped_by_reason"]["out_of_scope"] >= 1  # example.com, localhost
    expected = crawled.site.expected(max_depth=1)
    assert summary["documents"] == len(expected.saved)
    policy = {"too_large", "content_type", "redirect_out_of_scope", "redirect_robots"}
    failed = {u: r for u, r in expected.failed.items() if r not in policy and r != "http_404"}
    assert summary["failed"] == len(failed)
    # the jobs listing carries it too (the jobs table's Docs column)
    r = await crawled.web.client.get("/api/jobs", params={"parent_id": "root"})
    (row,) = r.json()["items"]
    assert row["crawl"] == summary and row["result_count"] == summary["documents"]


async def test_failures_list_urls_with_reasons(crawled: Crawled) -> None:
    client, job = crawled.web.client, crawled.job
    r = await client.get(f"/api/jobs/{job['id']}/failures")
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == job["children"]["failed"] >= 1 and page["seq"] > 0
    expected = crawled.site.expected(max_depth=1).failed
    reasons = {f["url"]: f["reason"] for f in page["items"]}
    assert reasons == {
        u: r for u, r in expected.items() if r in ("redirect_loop", "too_many_redirects")
    }
    for f in page["items"]:
        assert f["message"].startswith(f["reason"] + ": ")
        assert f["completed_at"].endswith("Z") and f["attempts"] >= 1


async def test_skipped_and_broken_links_are_listed(crawled: Crawled) -> None:
    client, job, site = crawled.web.client, crawled.job, crawled.site
    r = await client.get(f"/api/jobs/{job['id']}/broken-links")
    assert r.status_code == 200
    assert r.json()["items"] == [
        {"url": site.url("/missing.html"), "status": 404, "referrers": [site.url("/")]}
    ]
    r = await client.get(f"/api/jobs/{job['id']}/skipped", params={"reason": "too_large"})
    assert r.status_code == 200
    urls = {i["url"] for i in r.json()["items"]}
    assert site.url("/huge.html") in urls and r.json()["total"] == len(urls)
    # paginated by URL, nothing lost or repeated
    total = job["crawl"]["skipped"]
    seen: list[str] = []
    for offset in range(0, total, 3):
        r = await client.get(
            f"/api/jobs/{job['id']}/skipped", params={"limit": 3, "offset": offset}
        )
        assert r.json()["total"] == total
        seen += [i["url"] for i in r.json()["items"]]
    assert seen == sorted(set(seen)) and len(seen) == total
    r = await client.get("/api/jobs/999999/skipped")
    assert r.status_code == 404 and "not found" in r.json()["detail"]


async def test_private_start_url_refused_at_submit(crawled: Crawled) -> None:
    r = await crawled.web.client.post(
        "/api/jobs", json={"job_type": "crawl", "config": {"start_urls": ["http://127.0.0.1:9/"]}}
    )
    assert r.status_code == 422
    assert "allow_private_networks" in r.json()["detail"]


async def test_documents_of_the_crawl(crawled: Crawled) -> None:
    client, job, site = crawled.web.client, crawled.job, crawled.site
    r = await client.get("/api/documents", params={"job_id": job["id"], "limit": 100})
    assert r.status_code == 200
    page = r.json()
    assert page["q"] is None and page["total"] == job["result_count"]
    assert {d["url"] for d in page["items"]} == set(site.expected(max_depth=1).saved)
    assert all("markdown" not in d for d in page["items"])
    ids = [d["id"] for d in page["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first

    r = await client.get("/api/documents", params={"q": "omicron", "job_id": job["id"]})
    hits = r.json()
    assert hits["q"] == "omicron" and hits["total"] > 0
    for hit in hits["items"]:
        assert set(hit) == {"id", "url", "title", "snippet", "snippet_html", "score"}
        assert "<mark>omicron</mark>" in hit["snippet_html"]
        assert "<mark>" not in hit["snippet"]
    scores = [hit["score"] for hit in hits["items"]]
    assert scores == sorted(scores, reverse=True)

    home = site.url("/")
    r = await client.get("/api/documents/by-url", params={"url": home})
    assert r.status_code == 200
    doc = r.json()
    assert doc["url"] == home and doc["markdown"].startswith("# Home")
    assert doc["job_ids"] == [job["id"]]
    # the URL as a person types it: normalised the crawler's way
    r = await client.get("/api/documents/by-url", params={"url": home.upper() + "#top"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == doc["id"]
    r = await client.get(f"/api/documents/{doc['id']}")
    assert r.json() == doc


async def test_budget_counts_as_discovered(web_settings: Settings) -> None:
    async with TestSite(slow_delay=0.05) as site, crawler_web(web_settings) as web:
        job = await crawl(web, site, max_depth=3, max_pages=5, concurrency=2)
    summary = job["crawl"]
    assert job["children"]["total"] == 5
    assert summary["skipped_by_reason"]["budget"] > 0
    assert summary["discovered"] == 5 + summary["skipped_by_reason"]["budget"]


# ------------------------------------------------------------------ without a crawl


async def test_crawl_summary_only_on_crawl_jobs(web_settings: Settings) -> None:
    async with open_web(web_settings) as web:
        register(web.app)
        r = await web.client.post(
            "/api/jobs",
            json={"job_type": "crawl", "config": {"start_urls": ["https://example.com/"]}},
        )
        crawl_job = r.json()
        assert crawl_job["crawl"] == {
            "discovered": 0,
            "pending": 0,
            "running": 0,
            "completed": 0,
            "failed": 0,
            "skipped": 0,
            "skipped_by_reason": {},
            "discovery_open": True,  # not started: everything is still to discover
            "documents": 0,
            "broken_links": 0,
            "aliases": 0,
            "requests": 0,
            "redirects": 0,
        }
        r = await web.client.post("/api/jobs", json={"job_type": "noop"})
        assert r.json()["crawl"] is None and r.json()["stats"] == {}


async def save(app: App, root: int, url: str, title: str, markdown: str) -> int:
    doc, _ = await app.store.save_document(NewDocument(url, title, markdown), root, root)
    return doc.id


async def test_search_list_and_paging(web: Web) -> None:
    a, _ = await make_tree(web.app, 0, "crawl a")
    b, _ = await make_tree(web.app, 0, "crawl b")
    in_title = await save(web.app, a, "https://a.test/1", "Zebra guide", "all about stripes")
    in_body = await save(web.app, a, "https://a.test/2", "Animals", "a zebra, once, in passing")
    for i in range(5):
        await save(web.app, b, f"https://b.test/{i}", f"Page {i}", f"zebra number {i}")
    r = await web.client.get("/api/documents", params={"q": "zebra", "job_id": a})
    assert [h["id"] for h in r.json()["items"]] == [in_title, in_body]  # titles weigh more
    r = await web.client.get("/api/documents", params={"q": "zebra"})
    assert r.json()["total"] == 7
    pages = []
    for offset in (0, 3, 6):
        r = await web.client.get(
            "/api/documents", params={"q": "zebra", "limit": 3, "offset": offset}
        )
        body = r.json()
        assert (body["total"], body["limit"], body["offset"]) == (7, 3, offset)
        pages += [h["id"] for h in body["items"]]
    assert len(pages) == len(set(pages)) == 7
    r = await web.client.get("/api/documents", params={"limit": 2})
    assert r.json()["total"] == 7 and len(r.json()["items"]) == 2
    r = await web.client.get("/api/documents", params={"job_id": b, "offset": 4})
    assert r.json()["total"] == 5 and len(r.json()["items"]) == 1
    r = await web.client.get("/api/documents", params={"q": "nothingmatches"})
    assert r.json() == {"items": [], "total": 0, "limit": 20, "offset": 0, "q": "nothingmatches"}


async def test_snippets_are_escaped(web: Web) -> None:
    root, _ = await make_tree(web.app, 0)
    await save(web.app, root, "https://x.test/", "Tags", 'see <script>alert("x")</script> & tags')
    r = await web.client.get("/api/documents", params={"q": "script"})
    (hit,) = r.json()["items"]
    assert "<script>" not in hit["snippet_html"]
    assert "&lt;<mark>script</mark>&gt;" in hit["snippet_html"]
    assert "&amp;" in hit["snippet_html"] and "<script>" in hit["snippet"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"q": ""}, "query q: is empty"),
        ({"q": "   "}, "query q: is empty"),
        ({"q": "!!! ..."}, "has no words to search for"),
        ({"q": "x" * 501}, "query q:"),
        ({"limit": 0}, "query limit:"),
        ({"limit": 101}, "query limit:"),
        ({"offset": -1}, "query offset:"),
        ({"job_id": 0}, "query job_id:"),
        ({"job_id": "x"}, "query job_id:"),
    ],
)
async def test_bad_input_is_422(web: Web, params: dict[str, Any], fragment: str) -> None:
    r = await web.client.get("/api/documents", params=params)
    assert r.status_code == 422
    assert fragment in r.json()["detail"], r.json()


async def test_not_found_and_bad_ids(web: Web) -> None:
    r = await web.client.get("/api/documents/12345")
    assert (r.status_code, r.json()) == (404, {"detail": "document 12345 not found"})
    r = await web.client.get("/api/documents/by-url", params={"url": "https://nowhere.test/"})
    assert r.status_code == 404 and "no document for URL" in r.json()["detail"]
    r = await web.client.get("/api/documents/by-url")
    assert r.status_code == 422 and "query url: required" in r.json()["detail"]
    r = await web.client.get("/api/documents/abc")  # not an id: no such route
    assert r.status_code == 404 and "nothing at GET /api/documents/abc" in r.json()["detail"]
    r = await web.client.get("/api/documents", params={"job_id": 999})
    assert (r.status_code, r.json()) == (404, {"detail": "job 999 not found"})


async def test_failures_of_any_parent(web: Web) -> None:
    parent, kids = await make_tree(web.app, 3)
    await web.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
    await web.app.manager.update_job_status(kids[0], JobStatus.FAILED, error="timeout: too slow")
    await web.app.manager.update_job_status(kids[1], JobStatus.RUNNING)
    await web.app.manager.update_job_status(kids[1], JobStatus.FAILED, error="no colon here")
    r = await web.client.get(f"/api/jobs/{parent}/failures")
    items = r.json()["items"]
    assert [(f["job_id"], f["url"], f["reason"], f["message"]) for f in items] == [
        (kids[0], None, "timeout", "timeout: too slow"),
        (kids[1], None, "no colon here", "no colon here"),
    ]
    r = await web.client.get(f"/api/jobs/{kids[2]}/failures")
    assert r.json()["items"] == [] and r.json()["total"] == 0
    r = await web.client.get("/api/jobs/999/failures")
    assert r.status_code == 404
    r = await web.client.get(f"/api/jobs/{parent}/failures", params={"limit": 501})
    assert r.status_code == 422 and "query limit:" in r.json()["detail"]


async def test_documents_need_the_token(web_settings: Settings) -> None:
    web_settings.server.api_token = "s3cret"
    async with open_web(web_settings) as web:
        for path in ("/api/documents", "/api/documents/1", "/api/documents/by-url?url=x"):
            r = await web.client.get(path)
            assert r.status_code == 401, path
        r = await web.client.get("/api/documents", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200


async def test_top_level_clients_get_document_saved(web_settings: Settings) -> None:
    """The jobs page (top_level=1) counts a crawl's documents from document_saved events,
    which a child raises; its other events stay away from top-level clients."""
    async with serve(web_settings) as live:
        root, kids = await make_tree(live.app, 1, "crawl")
        url = f"{live.ws_url}?top_level=1&types=document_saved,job_status_change"
        async with ws_connect(url) as ws:
            await ws.ready()
            await live.app.store.save_document(
                NewDocument("https://d.test/", "D", "body"), kids[0], root
            )
            await live.app.manager.update_job_status(kids[0], JobStatus.RUNNING)
            await live.app.store.save_document(
                NewDocument("https://d.test/", "D", "body again"), kids[0], root
            )
            await live.app.manager.update_job_status(root, JobStatus.CANCELLED)
            msgs = await ws.until(lambda m: m["type"] == "job_status_change")
    saved = [m["payload"] for m in msgs if m["type"] == "document_saved"]
    assert [(p["parent_id"], p["job_id"], p["new"]) for p in saved] == [
        (root, kids[0], True),
        (root, kids[0], False),
    ]
    # the child's own status change (running) was not sent; the root's was
    assert msgs[-1]["payload"]["job_id"] == root
    assert [m["type"] for m in msgs].count("job_status_change") == 1
