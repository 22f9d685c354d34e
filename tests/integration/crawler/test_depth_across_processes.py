"""A shorter path found to a page outlives the process that found it (both backends).

The site (crawled at ``max_depth`` 3)::

    /  ->  /x  ->  /y  ->  /t  ->  /u
    /  ->  /slow  ->  /t

``/t`` is first found at depth 3 (through ``/x``, ``/y``), whose links a crawl does not
follow, then at depth 2 through ``/slow``, which makes ``/u`` (depth 3) part of the crawl.
Each test finds the shorter path in one App (a process), stops it, and finishes the crawl
in another App with a fresh crawler runtime, as ``crawl --resume`` or a second ``quaero
worker`` does. Before the depth was kept in the store, ``/u`` was never crawled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from quaero import App, JobStatus, Settings
from quaero.crawler.jobs import register
from quaero.jobs.models import Job
from quaero.store import JobQuery

pytestmark = pytest.mark.timeout(120)

LINKS = {"/": ["/x", "/slow"], "/x": ["/y"], "/y": ["/t"], "/slow": ["/t"], "/t": ["/u"], "/u": []}


class GatedSite:
    """The site above; a path in ``gates`` answers only once its event is set."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.arrived: dict[str, asyncio.Event] = {p: asyncio.Event() for p in LINKS}
        self.hits: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path == "/robots.txt":
            return web.Response(text="User-agent: *\nAllow: /\n")
        if path not in LINKS:
            raise web.HTTPNotFound()
        self.hits[path] += 1
        self.arrived[path].set()
        gate = self.gates.get(path)
        if gate is not None:
            await gate.wait()
        links = "".join(f'<a href="{p}">{p}</a> ' for p in LINKS[path])
        return web.Response(
            text=f"<html><head><title>{path}</title></head><body><p>{path}</p>{links}</body>"
            "</html>",
            content_type="text/html",
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> GatedSite:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for gate in self.gates.values():
            gate.set()
        if self._runner is not None:
            await self._runner.cleanup()


def make_app(url: str) -> App:
    s = Settings()
    s.store.url = url
    s.worker.poll_interval = 0.05
    s.worker.lease_seconds = 30
    a = App(s)
    register(a)
    return a


async def page_job(app: App, crawl_id: int, url: str) -> Job | None:
    """The page job keyed by ``url`` (the first one made for it), if there is one yet."""
    page = await app.store.list_jobs(JobQuery(parent_id=crawl_id, limit=100))
    return next((j for j in page.items if j.dedupe_key == url), None)


async def until(cond: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await cond():
            await asyncio.sleep(0.02)


async def start_crawl(app: App, site: GatedSite, max_pages: int = 1000) -> int:
    job = await app.submit(
        "crawl",
        {
            "start_urls": [site.url("/")],
            "max_depth": 3,
            "max_pages": max_pages,
            "allow_private_networks": True,
            "request_timeout": 30,
            "sitemaps": False,
        },
    )
    return job.id


async def finish_elsewhere(url: str, crawl_id: int, site: GatedSite) -> set[str]:
    """Run the crawl to its end in a second App (a fresh crawler runtime)."""
    app = make_app(url)
    async with app:
        w = app.worker(concurrency=4)
        await w.start()
        try:
            done = await app.wait(crawl_id, timeout=60)
        finally:
            await w.stop()
        assert done.status is JobStatus.COMPLETED, done.error
        docs = await app.store.list_documents(limit=100, job_id=crawl_id)
    return {d.url[len(site.url("")) :] for d in docs.items}


async def test_a_page_running_here_takes_the_shorter_depth_after_a_restart(
    store_url: str,
) -> None:
    async with GatedSite() as site:
        site.gates["/t"] = asyncio.Event()  # /t is being fetched when the process stops
        site.gates["/slow"] = asyncio.Event()
        app = make_app(store_url)
        async with app:
            w = app.worker(concurrency=4)
            await w.start()
            crawl_id = await start_crawl(app, site)
            await asyncio.wait_for(site.arrived["/t"].wait(), 30)  # found at depth 3
            site.gates["/slow"].set()  # now the shorter path: /t at depth 2, running here

            async def slow_done() -> bool:
                slow = await page_job(app, crawl_id, site.url("/slow"))
                return slow is not None and slow.status is JobStatus.COMPLETED

            await until(slow_done)
            await w.stop(timeout=0.2)  # /t is released unfinished: the process "dies"
        site.gates["/t"].set()
        saved = await finish_elsewhere(store_url, crawl_id, site)
    assert saved == {"/", "/x", "/y", "/slow", "/t", "/u"}
    assert site.hits["/u"] == 1


async def test_a_page_done_at_a_larger_depth_is_fetched_again_at_the_smaller(
    store_url: str,
) -> None:
    async with GatedSite() as site:
        site.gates["/slow"] = asyncio.Event()  # answers only in the second process
        app = make_app(store_url)
        async with app:
            w = app.worker(concurrency=4)
            await w.start()
            crawl_id = await start_crawl(app, site)

            async def t_done() -> bool:
                t = await page_job(app, crawl_id, site.url("/t"))
                return t is not None and t.status is JobStatus.COMPLETED

            await until(t_done)  # /t saved at depth 3, its links not followed
            await asyncio.wait_for(site.arrived["/slow"].wait(), 30)
            await w.stop(timeout=0.2)  # /slow is released unfinished
        site.gates["/slow"].set()
        saved = await finish_elsewhere(store_url, crawl_id, site)
    assert saved == {"/", "/x", "/y", "/slow", "/t", "/u"}
    assert site.hits["/t"] == 2  # once at depth 3, again at depth 2 by the second process
    assert site.hits["/u"] == 1


async def test_a_shorter_path_over_the_page_budget_is_recorded_as_skipped(
    store_url: str,
) -> None:
    """With the budget spent (5 pages: /, /x, /slow, /y, /t), the page cannot be spawned
    again at its smaller depth: the crawl records that it skipped it ("budget") instead of
    dropping the shorter path without a word."""
    async with GatedSite() as site:
        site.gates["/slow"] = asyncio.Event()
        app = make_app(store_url)
        async with app:
            w = app.worker(concurrency=4)
            await w.start()
            crawl_id = await start_crawl(app, site, max_pages=5)

            async def t_done() -> bool:
                t = await page_job(app, crawl_id, site.url("/t"))
                return t is not None and t.status is JobStatus.COMPLETED

            await until(t_done)
            await asyncio.wait_for(site.arrived["/slow"].wait(), 30)
            await w.stop(timeout=0.2)
        site.gates["/slow"].set()
        saved = await finish_elsewhere(store_url, crawl_id, site)
        app = make_app(store_url)
        async with app:
            skips = await app.store.list_skips(crawl_id, reason="budget")
    assert saved == {"/", "/x", "/y", "/slow", "/t"}
    assert site.hits["/t"] == 1
    assert [i["url"] for i in skips.items] == [site.url("/t")]
