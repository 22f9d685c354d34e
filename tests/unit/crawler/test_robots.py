"""robots.txt cache: status handling, single flight, user agents, crawl delay."""

from __future__ import annotations

import asyncio
import time

import pytest

from quaero.crawler.fetch import FetchConfig, Fetcher, FetchError
from quaero.crawler.robots import RobotsCache, RobotsResponse, robots_url
from tests.support.site import TestSite

ROBOTS = """
User-agent: *
Disallow: /private/
Crawl-delay: 2

User-agent: QuaeroBot
Disallow: /no-quaero/
Allow: /no-quaero/but-this/
Crawl-delay: 0.5

Sitemap: https://example.com/sitemap.xml
"""


class FakeFetch:
    def __init__(self, response: RobotsResponse | Exception, delay: float = 0.0) -> None:
        self.response = response
        self.delay = delay
        self.calls: list[str] = []

    async def __call__(self, url: str) -> RobotsResponse:
        self.calls.append(url)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def test_robots_url() -> None:
    assert robots_url("https://Example.com:8443/a/b?c") == "https://example.com:8443/robots.txt"
    assert robots_url("http://example.com") == "http://example.com/robots.txt"


async def test_user_agent_groups_and_delay() -> None:
    fetch = FakeFetch(RobotsResponse(200, ROBOTS))
    bot = RobotsCache(fetch, "QuaeroBot/0.1 (+https://example.com/bot)")
    assert not await bot.allowed("https://example.com/no-quaero/x")
    assert await bot.allowed("https://example.com/no-quaero/but-this/x")
    assert await bot.allowed("https://example.com/private/x")  # its own group wins over *
    assert await bot.crawl_delay("https://example.com/") == 0.5
    rules = await bot.rules_for("https://example.com/")
    assert rules.sitemaps == ["https://example.com/sitemap.xml"]
    assert rules.state == "ok"

    other = RobotsCache(FakeFetch(RobotsResponse(200, ROBOTS)), "OtherBot/1.0")
    assert not await other.allowed("https://example.com/private/x")
    assert await other.allowed("https://example.com/no-quaero/x")
    assert await other.crawl_delay("https://example.com/") == 2.0


async def test_fetched_once_per_origin_even_concurrently() -> None:
    fetch = FakeFetch(RobotsResponse(200, ROBOTS), delay=0.05)
    cache = RobotsCache(fetch, "QuaeroBot")
    urls = [f"https://example.com/page{i}" for i in range(50)] + ["https://other.org/x"] * 10
    results = await asyncio.gather(*(cache.allowed(u) for u in urls))
    assert all(results)
    assert sorted(fetch.calls) == ["https://example.com/robots.txt", "https://other.org/robots.txt"]
    await cache.allowed("https://example.com/again")
    assert len(fetch.calls) == 2
    assert cache.fetches == 2


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_4xx_allows_all(status: int) -> None:
    cache = RobotsCache(FakeFetch(RobotsResponse(status)), "QuaeroBot")
    assert await cache.allowed("https://example.com/private/x")
    rules = await cache.rules_for("https://example.com/")
    assert rules.state == "missing"
    assert rules.crawl_delay is None


@pytest.mark.parametrize(
    "response",
    [
        RobotsResponse(500),
        RobotsResponse(503),
        RobotsResponse(429),
        FetchError("timeout", "slow", retryable=True),
        ConnectionError("refused"),
    ],
)
async def test_unreachable_allows_all_but_retries_later(
    response: RobotsResponse | Exception, caplog: pytest.LogCaptureFixture
) -> None:
    fetch = FakeFetch(response)
    cache = RobotsCache(fetch, "QuaeroBot", error_ttl=0.0)
    with caplog.at_level("WARNING", logger="quaero.crawler.robots"):
        assert await cache.allowed("https://example.com/private/x")
    rules = await cache.rules_for("https://example.com/")
    assert rules.state == "unreachable"
    assert rules.error
    assert "allowing all" in caplog.text
    await asyncio.sleep(0.001)
    await cache.allowed("https://example.com/y")
    assert len(fetch.calls) >= 2  # error_ttl=0: asked again


async def test_lru_bound_and_close() -> None:
    fetch = FakeFetch(RobotsResponse(404))
    cache = RobotsCache(fetch, "QuaeroBot", max_origins=2)
    for host in ("a.com", "b.com", "c.com"):
        await cache.allowed(f"https://{host}/")
    assert cache.cached("https://a.com/") is None
    assert cache.cached("https://c.com/") is not None
    await cache.close()
    assert cache.cached("https://c.com/") is None


async def test_with_fetcher_against_site(site: TestSite, fetcher: Fetcher) -> None:
    robots = fetcher.robots_cache()
    assert not await robots.allowed(site.url("/private/a.html"))
    assert await robots.allowed(site.url("/p/1.html"))
    assert site.hits["/robots.txt"] == 1
    # fetch_robots reports the status instead of raising for HTTP errors
    response = await fetcher.fetch_robots(site.url("/no-such/robots.txt"))
    assert response.status == 404


async def test_crawl_delay_from_site() -> None:
    async with TestSite(n_pages=5, crawl_delay=1.5) as site:
        fetcher = Fetcher(FetchConfig(allow_private_networks=True))
        try:
            robots = fetcher.robots_cache()
            assert await robots.crawl_delay(site.url("/")) == 1.5
        finally:
            await fetcher.close()


def test_x_robots_tag_directives_for_us_or_everyone() -> None:
    from quaero.crawler.robots import robots_directives

    ua = "QuaeroBot/0.1 (+https://example.org)"
    assert robots_directives(None, ua) == set()
    assert robots_directives("noindex, follow", ua) == {"noindex", "follow"}
    assert robots_directives("NONE", ua) == {"none"}
    assert robots_directives("googlebot: noindex, nofollow", ua) == set()
    assert robots_directives("googlebot: noindex, QuaeroBot: nofollow", ua) == {"nofollow"}


async def test_close_is_bounded_when_a_fetch_ignores_its_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A robots.txt fetch whose cancel waits on the network (here: never ends) cannot hang
    the cache's close (it waited for it without a bound)."""
    monkeypatch.setattr("quaero.shutdown.CLOSE_TIMEOUT", 0.2)
    started = asyncio.Event()
    release = asyncio.Event()

    async def stuck(url: str) -> RobotsResponse:
        started.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # a network call that does not end on cancel
        return RobotsResponse(200, "")

    bot = RobotsCache(stuck, "QuaeroBot")
    asking = asyncio.create_task(bot.allowed("https://example.com/x"))
    await asyncio.wait_for(started.wait(), 5)
    began = time.monotonic()
    closing = asyncio.create_task(bot.close())
    try:
        done, _ = await asyncio.wait({closing}, timeout=3)
        assert closing in done, "close() waited for the stuck fetch"
        assert time.monotonic() - began < 2
    finally:
        release.set()  # the stuck fetch ends; so does a close still waiting for it
        await asyncio.wait({asking, closing}, timeout=5)
