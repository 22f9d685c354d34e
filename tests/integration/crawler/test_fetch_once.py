"""Each URL fetched once: a generated 3,000-page site where every page is linked under the
usual duplicate spellings (``/p/N`` redirecting to ``/p/N/``, ``#top``, ``../N/``,
``%70``), crawled at concurrency 16 with random response delays."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from quaero import App, JobStatus, Settings
from quaero.crawler.jobs import register
from quaero.web.api_jobs import crawl_summary

N_PAGES = 3000


class DupSite:
    """Pages ``/p/N/`` (N = 1..n); page N links to 2N, 2N+1 and N+1 under several spellings."""

    def __init__(self, n: int, max_delay: float = 0.0, seed: int = 7) -> None:
        self.n = n
        self.max_delay = max_delay
        self.random = random.Random(seed)
        self.downloads: Counter[str] = Counter()  # 200 answers with a page body
        self.requests = 0
        self.base = ""

    def page(self, k: int) -> bytes:
        links = ['<a href="#top">top</a>', f'<a href="/p/{k}/#top">self</a>']
        for j, t in enumerate((2 * k, 2 * k + 1, k + 1)):
            if t > self.n:
                continue
            spelling = (f"/p/{t}", f"../{t}/", f"/%70/{t}/", f"/p/{t}/#top")[(k + j) % 4]
            links.append(f'<a href="{spelling}">page {t}</a>')
            links.append(f'<a href="/p/{t}/">page {t} again</a>')
        return (
            f"<html><head><title>Page {k}</title></head><body><h1>Page {k}</h1>"
            f"<p>Words of page number {k}.</p>{' '.join(links)}</body></html>"
        ).encode()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.max_delay:
            await asyncio.sleep(self.random.random() * self.max_delay)
        path = request.path
        if path in ("/robots.txt", "/sitemap.xml"):
            return web.Response(status=404)
        self.requests += 1  # page requests
        if path == "/":
            raise web.HTTPFound("/p/1/")
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "p" and parts[1].isdigit():
            k = int(parts[1])
            if 1 <= k <= self.n:
                if not path.endswith("/"):
                    raise web.HTTPMovedPermanently(path + "/")
                self.downloads[path] += 1
                return web.Response(body=self.page(k), content_type="text/html")
        return web.Response(status=404, text="missing")

    async def __aenter__(self) -> DupSite:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    s = Settings()
    s.store.url = f"sqlite:///{tmp_path}/q.db"
    s.worker.poll_interval = 0.1
    a = App(s)
    register(a)
    async with a:
        yield a


async def crawl(app: App, base: str, concurrency: int) -> tuple[int, set[str], dict[str, int]]:
    w = app.worker(concurrency=concurrency)
    await w.start()
    try:
        job = await app.submit(
            "crawl",
            {
                "start_urls": [base + "/"],
                "allow_private_networks": True,
                "max_depth": 100,
                "max_pages": 100_000,
                "concurrency": concurrency,
            },
        )
        job = await app.wait(job.id, timeout=600)
    finally:
        await w.stop()
    assert job.status is JobStatus.COMPLETED
    docs = await app.store.list_documents(limit=100_000, job_id=job.id)
    return job.id, {d.url for d in docs.items}, crawl_summary(job)


@pytest.mark.timeout(600)
async def test_each_page_is_downloaded_once(app: App) -> None:
    async with DupSite(N_PAGES, max_delay=0.003) as site:
        _, docs, summary = await crawl(app, site.base, concurrency=16)
        assert docs == {f"{site.base}/p/{k}/" for k in range(1, N_PAGES + 1)}
        downloads = sum(site.downloads.values())
        assert downloads / len(docs) <= 1.05, (downloads, len(docs))
        assert max(site.downloads.values()) == 1  # no page at all downloaded twice
        # the summary counts requests, documents and redirects apart, and honestly
        assert summary["documents"] == N_PAGES
        assert summary["requests"] == site.requests
        assert summary["redirects"] == site.requests - downloads
        print(
            f"\n{site.requests} requests ({downloads} full downloads, "
            f"{summary['redirects']} redirects) for {len(docs)} documents: "
            f"{downloads / len(docs):.3f} downloads per document"
        )


def bfs_depths(site: DupSite) -> dict[int, int]:
    """Shortest link distance of each page from /p/1/ (redirects add none)."""
    depth = {1: 0}
    queue = [1]
    for k in queue:
        for t in (2 * k, 2 * k + 1, k + 1):
            if t <= site.n and t not in depth:
                depth[t] = depth[k] + 1
                queue.append(t)
    return depth


@pytest.mark.timeout(600)
async def test_same_documents_at_every_concurrency_and_latency(tmp_path: Path) -> None:
    """Random response delays, concurrency 1, 4 and 16: the same documents, each at its
    shortest link distance, however the fetches interleave."""
    max_depth = 5
    results = []
    for concurrency, seed in ((1, 1), (4, 2), (16, 3), (16, 4)):
        s = Settings()
        s.store.url = f"sqlite:///{tmp_path}/c{concurrency}-{seed}.db"
        s.worker.poll_interval = 0.1
        a = App(s)
        register(a)
        async with a, DupSite(400, max_delay=0.02, seed=seed) as site:
            w = a.worker(concurrency=concurrency)
            await w.start()
            try:
                job = await a.submit(
                    "crawl",
                    {
                        "start_urls": [site.base + "/"],
                        "allow_private_networks": True,
                        "max_depth": max_depth,
                        "concurrency": concurrency,
                    },
                )
                job = await a.wait(job.id, timeout=300)
            finally:
                await w.stop()
            docs = (await a.store.list_documents(limit=10_000, job_id=job.id)).items
            got = {d.url[len(site.base) :]: d.metadata["depth"] for d in docs}
            expected = {f"/p/{k}/": d for k, d in bfs_depths(site).items() if d <= max_depth}
            assert got == expected, (concurrency, seed)
            results.append(set(got))
    assert all(r == results[0] for r in results)
