"""Pages the crawler must understand, on a small local site: meta refresh, meta robots and
X-Robots-Tag, undeclared charsets, broken links, oversized pages, sitemaps."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from quaero import App, JobStatus, Settings
from quaero.crawler.jobs import register

PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/": (
        200,
        {},
        b"<html><head><title>Start</title></head><body><p>start page</p>"
        b'<a href="/refresh.html">r</a> <a href="/noindex.html">n</a> '
        b'<a href="/xrobots.html">x</a> <a href="/cp1252.html">c</a> '
        b'<a href="/gone.html">g</a> <a href="/big.html">b</a> '
        b'<a href="/p/100/index.html">t1</a> <a href="/p/100/?utm_source=x">t2</a> '
        b'<a href="/q/1.html">q</a></body></html>',
    ),
    "/refresh.html": (200, {}, b'<META HTTP-EQUIV=REFRESH CONTENT="0; URL=/home/">'),
    "/home/": (200, {}, b"<title>Home</title><p>the home page</p>"),
    "/noindex.html": (
        200,
        {},
        b'<meta name="robots" content="noindex, follow"><p>hidden words</p>'
        b'<a href="/from-noindex.html">f</a>',
    ),
    "/from-noindex.html": (200, {}, b"<title>F</title><p>found through a noindex page</p>"),
    "/xrobots.html": (
        200,
        {"X-Robots-Tag": "noindex, nofollow"},
        b'<p>not stored</p><a href="/never.html">never</a>',
    ),
    "/never.html": (200, {}, b"<p>never</p>"),
    "/cp1252.html": (200, {}, "<title>Shop</title><p>Price €5, café</p>".encode("cp1252")),
    "/gone.html": (410, {}, b"gone"),
    "/big.html": (200, {}, b"<p>" + b"x" * 5000 + b"</p>"),
    # sitemaps: robots.txt names an index, which lists a gzipped sitemap and a plain one;
    # /sitemap.xml is read too. Pages only they list are crawled.
    "/sitemaps/index.xml": (
        200,
        {"Content-Type": "application/xml"},
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>/sitemaps/a.xml.gz</loc></sitemap>"
        b"<sitemap><loc>{base}/sitemaps/b.xml</loc></sitemap></sitemapindex>",
    ),
    "/sitemaps/a.xml.gz": (
        200,
        {"Content-Type": "application/gzip"},
        gzip.compress(
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>{base}/orphan-1.html</loc></url>"
            b"<url><loc>http://example.org/elsewhere.html</loc></url></urlset>"
        ),
    ),
    "/sitemaps/b.xml": (
        200,
        {"Content-Type": "text/xml"},
        b"<urlset><url><loc>{base}/orphan-2.html</loc></url>"
        b"<url><loc>{base}/home/</loc></url></urlset>",
    ),
    "/sitemap.xml": (
        200,
        {"Content-Type": "text/xml"},
        b"<urlset><url><loc>{base}/orphan-3.html</loc></url></urlset>",
    ),
    # canonical twins: one document, the others aliases (the tag, or the Link header)
    "/p/100/": (
        200,
        {},
        b'<link rel="canonical" href="/p/100/"><title>Twin</title><p>twin words here</p>',
    ),
    "/p/100/index.html": (
        200,
        {},
        b'<link rel="canonical" href="/p/100/"><title>Twin</title><p>twin words here</p>',
    ),
    "/q/1.html": (
        200,
        {"Link": '</q/1/>; rel="canonical"'},
        b"<title>Q</title><p>header twin</p>",
    ),
    "/q/1/": (200, {}, b"<title>Q</title><p>header twin</p>"),
    "/orphan-1.html": (200, {}, b"<title>O1</title><p>only in a sitemap</p>"),
    "/orphan-2.html": (200, {}, b"<title>O2</title><p>only in a sitemap</p>"),
    "/orphan-3.html": (200, {}, b"<title>O3</title><p>only in a sitemap</p>"),
}


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, Counter[str]]]:
    hits: Counter[str] = Counter()

    async def handle(request: web.Request) -> web.Response:
        hits[request.path_qs] += 1
        base = f"http://{request.host}"
        if request.path == "/robots.txt":
            return web.Response(
                text=f"User-agent: *\nDisallow:\nSitemap: {base}/sitemaps/index.xml\n"
            )
        status, headers, body = PAGES.get(request.path, (404, {}, b"missing"))
        if request.path.endswith(".gz"):
            body = gzip.compress(gzip.decompress(body).replace(b"{base}", base.encode()))
        else:
            body = body.replace(b"{base}", base.encode())
        return web.Response(
            status=status, body=body, headers={"Content-Type": "text/html", **headers}
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    s = Settings()
    s.store.url = f"sqlite:///{tmp_path}/q.db"
    s.worker.poll_interval = 0.1
    a = App(s)
    register(a)
    async with a:
        yield a


async def test_pages_the_crawler_must_understand(app: App, site: tuple[str, Counter[str]]) -> None:
    base, hits = site
    w = app.worker(concurrency=4)
    await w.start()
    try:
        job = await app.submit(
            "crawl",
            {
                "start_urls": [base + "/"],
                "allow_private_networks": True,
                "max_depth": 3,
                "max_body_size": 4096,
            },
        )
        job = await app.wait(job.id, timeout=60)
    finally:
        await w.stop()
    docs = {
        d.url[len(base) :]: d
        for d in (await app.store.list_documents(limit=100, job_id=job.id)).items
    }
    # the refresh target is crawled, the refresh-only page is not stored (an alias);
    # a noindex page is not stored but its links are followed; X-Robots-Tag nofollow too
    assert set(docs) == {
        "/",
        "/home/",
        "/from-noindex.html",
        "/cp1252.html",
        "/orphan-1.html",
        "/orphan-2.html",
        "/orphan-3.html",
        "/p/100/",
        "/q/1/",
    }
    twins = {"/p/100/", "/p/100/index.html", "/p/100/?utm_source=x", "/q/1/", "/q/1.html"}
    assert all(hits[p] == 1 for p in set(docs) - twins)
    # a twin's content is stored under its canonical URL: every URL fetched at most once
    assert all(hits[p] <= 1 for p in twins)
    assert hits["/never.html"] == 0
    aliases = {
        i["url"].removeprefix(base): (i["target"].removeprefix(base), i["reason"])
        for i in (await app.store.list_aliases(job.id)).items
    }
    assert aliases == {
        "/refresh.html": ("/home/", "refresh"),
        "/p/100/index.html": ("/p/100/", "canonical"),
        "/p/100/?utm_source=x": ("/p/100/", "canonical"),
        "/q/1.html": ("/q/1/", "canonical"),
    }
    # twins are stored once: search finds the page once
    assert [h.url for h in (await app.store.search_documents("twin words")).items] == [
        base + "/p/100/"
    ]
    assert "Price €5, café" in docs["/cp1252.html"].markdown
    # 410 is a broken link, an oversized page a skip: neither fails the crawl
    assert job.status is JobStatus.COMPLETED and job.children.failed == 0
    broken = (await app.store.list_broken_links(job.id)).items
    assert broken == [{"url": base + "/gone.html", "status": 410, "referrers": [base + "/"]}]
    skipped = {
        i["url"].removeprefix(base): i["reason"] for i in (await app.store.list_skips(job.id)).items
    }
    assert skipped == {
        "http://example.org/elsewhere.html": "out_of_scope",
        "/big.html": "too_large",
        "/noindex.html": "noindex",
        "/xrobots.html": "noindex",
    }
    # search finds each page once
    assert [h.url for h in (await app.store.search_documents("home page")).items] == [
        base + "/home/"
    ]
