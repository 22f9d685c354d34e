"""Crawls of the generated local site (tests/support/site.py) on a real SQLite store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from quaero import App, JobStatus, Settings
from quaero.crawler.jobs import register
from quaero.store import JobQuery
from tests.support.site import TestSite


@pytest.fixture
async def site() -> AsyncIterator[TestSite]:
    async with TestSite(slow_delay=0.2) as s:
        yield s


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    s = Settings()
    s.store.url = f"sqlite:///{tmp_path}/q.db"
    s.worker.backoff_base = 0.01
    s.worker.backoff_max = 0.05
    s.worker.poll_interval = 0.1
    a = App(s)
    register(a)
    async with a:
        yield a


async def run_crawl(app: App, concurrency: int = 8, **config: Any) -> Any:
    cfg = {"allow_private_networks": True, "skip_extensions": False, "request_timeout": 5, **config}
    w = app.worker(concurrency=concurrency)
    await w.start()
    try:
        job = await app.submit("crawl", cfg)
        return await app.wait(job.id, timeout=120)
    finally:
        await w.stop()


async def saved_urls(app: App, crawl_id: int) -> set[str]:
    page = await app.store.list_documents(limit=100_000, job_id=crawl_id)
    return {d.url for d in page.items}


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_exact_documents_for_depth(app: App, site: TestSite, depth: int) -> None:
    job = await run_crawl(app, start_urls=[site.url("/")], max_depth=depth)
    expected = site.expected(max_depth=depth)
    assert await saved_urls(app, job.id) == set(expected.saved)
    assert job.result_count == len(expected.saved)
    # nothing fetched twice (the flaky page answers 500 once, then is retried)
    twice = {path for path, n in site.hits.items() if n > 1}
    assert twice <= {"/flaky.html"}
    assert site.hits["/robots.txt"] == 1  # fetched once per host and cached
    assert not any(p.startswith("/private/") for p in site.hits)  # robots honoured
    assert job.stats.get("skipped_robots", 0) >= 1


#: fetch outcomes that are a policy refusing the page (a skip, not a failure)
POLICY = {"too_large", "content_type", "redirect_out_of_scope", "redirect_robots", "robots"}


async def test_each_page_outcome_is_failed_skipped_or_broken(app: App, site: TestSite) -> None:
    job = await run_crawl(app, start_urls=[site.url("/")], max_depth=1)
    expected = site.expected(max_depth=1)
    broken = {u: r for u, r in expected.failed.items() if r in ("http_404", "http_410")}
    skipped = {u: r for u, r in expected.failed.items() if r in POLICY}
    failed_expected = {
        u: r for u, r in expected.failed.items() if u not in broken and u not in skipped
    }
    failed = await app.store.list_jobs(
        JobQuery(parent_id=job.id, statuses=[JobStatus.FAILED], limit=1000)
    )
    reasons = {j.config["url"]: (j.error or "").split(":", 1)[0] for j in failed.items}
    assert reasons == failed_expected
    assert job.status is JobStatus.FAILED  # one overall rule: a failed child fails the crawl
    assert job.children.failed == len(failed_expected)
    # a 404 is a broken link: the page job completes, no document, listed with its referrer
    page = await app.store.list_broken_links(job.id, limit=1000)
    assert {i["url"]: f"http_{i['status']}" for i in page.items} == broken
    assert job.stats["broken_links"] == len(broken)
    assert all(i["referrers"] == [site.url("/")] for i in page.items)
    # policy refusals are skips, listed with their reason
    for reason in set(skipped.values()):
        listed = await app.store.list_skips(job.id, reason, limit=1000)
        assert {i["url"] for i in listed.items} == {u for u, r in skipped.items() if r == reason}
        assert job.stats[f"skipped_{reason}"] == listed.total


async def test_broken_links_and_oversized_pages_do_not_fail_a_crawl(
    app: App, site: TestSite
) -> None:
    job = await run_crawl(
        app,
        start_urls=[site.url("/missing.html"), site.url("/huge.html"), site.url("/")],
        max_depth=0,
    )
    assert job.status is JobStatus.COMPLETED
    assert job.children.failed == 0 and job.result_count == 1
    broken = await app.store.list_broken_links(job.id)
    assert [(i["url"], i["status"], i["referrers"]) for i in broken.items] == [
        (site.url("/missing.html"), 404, [site.url("/")])  # whichever was fetched first
    ]
    assert (await app.store.list_skips(job.id, "too_large")).items == [
        {"url": site.url("/huge.html"), "reason": "too_large"}
    ]


async def test_budget_is_never_exceeded_with_concurrency_8(app: App, site: TestSite) -> None:
    job = await run_crawl(
        app, concurrency=8, start_urls=[site.url("/")], max_depth=10, max_pages=40
    )
    assert job.children.total == 40
    html_requests = {p for p in site.hits if p not in ("/robots.txt",)}
    # each child is at most one page (plus redirect hops it followed)
    assert job.result_count <= 40
    assert job.stats.get("skipped_budget", 0) > 0
    assert len({p for p in html_requests if not p.startswith("/redirect/")}) <= 40
    assert await app.store.recount() == []


async def test_query_rules_deduplicate(app: App, site: TestSite) -> None:
    job = await run_crawl(
        app,
        start_urls=[site.url("/")],
        max_depth=1,
        drop_query_params=["utm_*"],
        sort_query=True,
    )
    dups = {u for u in await saved_urls(app, job.id) if "/dup.html" in u}
    assert len(dups) == 1


async def test_search_ranks_titles(app: App, site: TestSite) -> None:
    await run_crawl(app, start_urls=[site.url("/")], max_depth=1)
    page = await app.store.search_documents("Home", limit=3)
    assert page.items and page.items[0].url == site.url("/")
    from quaero.errors import InvalidJobSpec

    with pytest.raises(InvalidJobSpec, match="no words"):
        await app.store.search_documents("!!! ???")


async def test_private_addresses_refused_by_default(app: App, site: TestSite) -> None:
    from quaero.errors import InvalidJobSpec

    with pytest.raises(InvalidJobSpec, match="--allow-private-networks"):
        await app.submit("crawl", {"start_urls": [site.url("/")]})
    with pytest.raises(InvalidJobSpec, match="private network"):
        await app.submit("crawl", {"start_urls": ["http://localhost:9/", "http://[::1]/"]})
    assert site.hits.get("/", 0) == 0


async def test_bad_crawl_config_is_refused(app: App) -> None:
    from quaero.errors import InvalidJobSpec

    for cfg, msg in [
        ({}, "start_urls must list at least one"),
        ({"start_urls": ["ftp://x"]}, "not a valid http(s) URL"),
        ({"start_urls": ["http://x/"], "max_depth": -1}, "max_depth must be an integer"),
        ({"start_urls": ["http://x/"], "include_patterns": ["("]}, "invalid regular expression"),
        ({"start_urls": ["http://x/"], "speed": 3}, "unknown crawl option"),
    ]:
        with pytest.raises(InvalidJobSpec, match=re.escape(msg)):
            await app.submit("crawl", cfg)


async def test_credentials_never_leave_the_store(app: App, site: TestSite) -> None:
    job = await run_crawl(
        app,
        start_urls=[site.url("/")],
        max_depth=0,
        headers={"Authorization": "Bearer s3cret"},
        cookies={"session": "c00kie"},
    )
    from quaero.jobs.models import job_to_dict

    text = str(job_to_dict(job))
    events = await app.store.read_events(0, 100_000)
    from quaero.store import LogQuery

    logs = await app.store.read_logs(LogQuery(job.id, aggregated=True, limit=10_000))
    blob = text + str([e.payload for e in events]) + str([e.message for e in logs])
    assert "s3cret" not in blob and "c00kie" not in blob
