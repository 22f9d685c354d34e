"""The generated test site and its ground truth, checked against a tiny reference crawl."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from quaero.crawler.extract import extract
from quaero.crawler.fetch import FetchConfig, Fetcher, FetchError
from quaero.crawler.urls import DEFAULT_TRACKING_PARAMS, NormalizeOptions, UrlFilter, normalize
from tests.support.site import SiteThread, TestSite


async def reference_crawl(
    site: TestSite, *, max_depth: int | None = None, options: NormalizeOptions | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """Concurrent BFS with the crawler modules; returns saved url → depth and failures."""
    start = normalize(site.url("/"), options)
    scope = UrlFilter.from_config([start])
    saved: dict[str, int] = {}
    failed: dict[str, str] = {}
    seen = {start}
    async with Fetcher(FetchConfig(allow_private_networks=True, timeout=5.0)) as fetcher:
        robots = fetcher.robots_cache()
        sem = asyncio.Semaphore(16)

        async def visit(
            url: str, depth: int, chain: tuple[str, ...]
        ) -> list[tuple[str, int, tuple[str, ...]]]:
            async with sem:
                if not await robots.allowed(url):
                    failed[url] = "robots"
                    return []
                for attempt in range(3):
                    try:
                        result = await fetcher.fetch(
                            url, scope=scope, robots=robots, follow_redirects=False
                        )
                        break
                    except FetchError as exc:
                        if not exc.retryable or attempt == 2:
                            failed[url] = exc.reason
                            return []
                if result.redirect_to is not None:
                    target = normalize(result.redirect_to, options)
                    if target in chain or target == url:
                        failed[url] = "redirect_loop"
                    elif not scope.allows(target):
                        failed[url] = "redirect_out_of_scope"
                    elif not await robots.allowed(target):
                        failed[url] = "redirect_robots"
                    else:
                        return [(target, depth, (*chain, url))]
                    return []
                if result.url in saved:
                    return []
                saved[result.url] = depth
                if max_depth is not None and depth >= max_depth:
                    return []
                page = extract(result.text, result.url, url_options=options)
                return [(link.url, depth + 1, ()) for link in page.links]

        tasks = {asyncio.create_task(visit(start, 0, ()))}
        while tasks:
            done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                for url, depth, chain in task.result():
                    if url not in seen and scope.allows(url):
                        seen.add(url)
                        tasks.add(asyncio.create_task(visit(url, depth, chain)))
    return saved, failed


def test_ground_truth_shape() -> None:
    site = TestSite()
    site.port = 8000  # ground truth needs no server
    full = site.expected()
    assert len(full.saved) == 300 + 10  # generated pages + specials saved
    assert site.url("/p/299.html") in full.saved
    assert site.url("/p/deep/5.html") in full.saved
    assert site.url("/private/a.html") in full.robots_blocked
    assert full.failed[site.url("/redirect/away")] == "redirect_out_of_scope"
    assert full.failed[site.url("/huge.html")] == "too_large"
    assert site.url("/r/chain-end.html") in full.saved
    assert full.depths[site.url("/")] == 0
    assert full.depths[site.url("/r/target-301.html")] == 1  # redirects add no depth
    shallow = site.expected(max_depth=1)
    assert all(d <= 1 for d in shallow.depths.values())
    assert len(shallow.saved) < len(full.saved)
    no_robots = site.expected(respect_robots=False)
    assert {site.url("/private/a.html"), site.url("/private/b.html")} <= no_robots.saved
    dedup = site.expected(
        url_options=NormalizeOptions(drop_params=DEFAULT_TRACKING_PARAMS, sort_query=True)
    )
    dups = [u for u in full.saved if "/dup.html" in u]
    assert len(dups) == 3
    assert [u for u in dedup.saved if "/dup.html" in u] == [site.url("/dup.html?a=1&b=2")]


async def test_reference_crawl_matches_ground_truth(site: TestSite) -> None:
    saved, failed = await reference_crawl(site)
    expected = site.expected()
    assert set(saved) == expected.saved
    assert {u for u, r in failed.items() if r != "robots"} == set(expected.failed)
    assert {u for u, r in failed.items() if r == "robots"} == expected.robots_blocked
    # no URL fetched twice (the flaky page answers 500 once, then is retried)
    repeated = {path: n for path, n in site.hits.items() if n > 1}
    assert repeated == {"/flaky.html": 2}
    assert site.hits["/robots.txt"] == 1
    assert not any(path.startswith("/private/") for path in site.hits)
    assert set(site.hosts) == {f"127.0.0.1:{site.port}"}


async def test_reference_crawl_depth_and_query_rules(site: TestSite) -> None:
    options = NormalizeOptions(drop_params=DEFAULT_TRACKING_PARAMS, sort_query=True)
    saved, _ = await reference_crawl(site, max_depth=2, options=options)
    expected = site.expected(max_depth=2, url_options=options)
    assert set(saved) == expected.saved
    assert saved == expected.depths


def test_site_thread_for_sync_tests() -> None:
    with SiteThread(TestSite(n_pages=10)) as site:
        with urllib.request.urlopen(site.url("/p/3.html"), timeout=5) as resp:
            assert resp.status == 200
            assert b"Page /p/3.html" in resp.read()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(site.url("/missing.html"), timeout=5)
        assert info.value.code == 404
        info.value.close()
        assert site.hits["/p/3.html"] == 1
