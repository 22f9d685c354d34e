"""Contract: a crawl's shorter link distances outlive the process that found them.

``lower_page_depths`` sets the depth of a pending page (or of one running in the caller's
process) in place, and names the pages that must be spawned again at the smaller depth
(running elsewhere, or finished at a larger depth), whatever the backend.
"""

from __future__ import annotations

import pytest

from quaero.errors import JobNotFound
from quaero.jobs.models import Job, NewJob
from quaero.store.base import Store, depth_key

from .helpers import OWNER, complete, running_root


def page(parent: Job, url: str, depth: int, key: str | None = None) -> NewJob:
    return NewJob(
        "crawl_url", {"url": url, "depth": depth}, parent_id=parent.id, dedupe_key=key or url
    )


async def depth_of(store: Store, job_id: int) -> int:
    job = await store.get_job(job_id)
    assert job is not None
    return int(job.config["depth"])


async def test_pending_running_and_finished_pages(store: Store) -> None:
    crawl = await running_root(store)
    made = await store.create_jobs(
        [page(crawl, f"http://a/{n}", 3) for n in ("done", "mine", "theirs", "pending")]
    )
    by_url = {j.config["url"]: j for j in made}
    # claim three of them (in id order): "done", "mine", "theirs"; complete "done"
    claimed = await store.claim_jobs(OWNER, 3, 60, ["crawl_url"])
    assert [j.config["url"] for j in claimed] == [
        "http://a/done",
        "http://a/mine",
        "http://a/theirs",
    ]
    await complete(store, claimed[0])
    again = await store.lower_page_depths(
        crawl.id,
        {
            "http://a/done": 2,  # finished at 3: spawn it again at 2
            "http://a/mine": 1,  # running in the caller's process: in place
            "http://a/theirs": 2,  # running elsewhere: spawn again
            "http://a/pending": 0,  # pending: in place
            "http://a/never": 1,  # no page (over the budget): left out
        },
        running_here=[by_url["http://a/mine"].id],
    )
    assert again == ["http://a/done", "http://a/theirs"]
    assert await depth_of(store, by_url["http://a/mine"].id) == 1
    assert await depth_of(store, by_url["http://a/pending"].id) == 0
    assert await depth_of(store, by_url["http://a/done"].id) == 3
    assert await depth_of(store, by_url["http://a/theirs"].id) == 3
    # the caller spawns them again under depth keys: from then on they are covered
    res = await store.spawn_children(
        [page(crawl, u, 2, depth_key(u, 2)) for u in again], max_children=None
    )
    assert len(res.created) == 2
    assert await store.lower_page_depths(crawl.id, {"http://a/done": 2}) == []
    assert await store.lower_page_depths(crawl.id, {"http://a/theirs": 3}) == []
    # a smaller depth still: the page spawned again is not the one keyed by the URL
    assert await store.lower_page_depths(crawl.id, {"http://a/done": 1}) == ["http://a/done"]


async def test_a_page_at_that_depth_or_less_is_left_alone(store: Store) -> None:
    crawl = await running_root(store)
    (p,) = await store.create_jobs([page(crawl, "http://a/x", 1)])
    assert await store.lower_page_depths(crawl.id, {"http://a/x": 1}) == []
    assert await store.lower_page_depths(crawl.id, {"http://a/x": 2}) == []
    assert await depth_of(store, p.id) == 1
    assert await store.lower_page_depths(crawl.id, {}) == []


async def test_unknown_crawl(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.lower_page_depths(987_654, {"http://a/": 0})
