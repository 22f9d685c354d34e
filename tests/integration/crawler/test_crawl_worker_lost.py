"""A crawl whose worker is lost while the crawl job itself runs (its handler spawning the
start pages and sitemap seeds) is run again by another worker, on both backends.

Before, the crawl job had one attempt: the lease expiring failed the crawl on its last
attempt and the failure rule cancelled every page. That is what ``quaero crawl`` killed in
its first second and then resumed did (22 of 86 documents, 50 pages cancelled), and what
one ``quaero worker`` process of several, killed and restarted, did to every crawl whose
job it was running."""

from __future__ import annotations

import pytest

from quaero import JobStatus
from quaero.crawler.jobs import _child
from quaero.crawler.settings import CrawlSettings
from tests.integration.crawler.test_depth_across_processes import (
    GatedSite,
    make_app,
    start_crawl,
)

pytestmark = pytest.mark.timeout(120)


async def test_a_crawl_whose_worker_died_in_its_handler_runs_again(store_url: str) -> None:
    async with GatedSite() as site:
        app = make_app(store_url)
        async with app:
            crawl_id = await start_crawl(app, site)
            # a worker claims the crawl, spawns its start page, and dies (no heartbeat,
            # no release): as a process SIGKILLed in the crawl handler
            (job,) = await app.manager.claim("dead-worker", 1, 0.3, ["crawl"])
            assert job.id == crawl_id
            settings = CrawlSettings.from_config(job.config)
            start = _child(site.url("/"), 0, None, settings)
            start.parent_id = crawl_id
            spawned = await app.store.spawn_children([start], settings.max_pages)
            assert len(spawned.created) == 1
            w = app.worker(concurrency=4, lease_seconds=1.0)
            await w.start()
            try:
                done = await app.wait(crawl_id, timeout=60)
            finally:
                await w.stop()
            assert done.status is JobStatus.COMPLETED, done.error
            assert done.attempts == 2
            docs = await app.store.list_documents(limit=100, job_id=crawl_id)
    assert {d.url[len(site.url("")) :] for d in docs.items} == {
        "/",
        "/x",
        "/y",
        "/slow",
        "/t",
        "/u",
    }
    assert max(site.hits.values()) == 1
