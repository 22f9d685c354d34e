"""Contract: skipped keys count once per job, whatever the backend."""

from __future__ import annotations

import pytest

from quaero.errors import JobNotFound
from quaero.jobs.models import NewJob
from quaero.store.base import Store


async def test_skips_count_distinct_urls_once(store: Store) -> None:
    (job,) = await store.create_jobs([NewJob("noop")])
    got = await store.record_skips(job.id, {"http://a/1": "robots", "http://x/": "out_of_scope"})
    assert got == {"skipped_robots": 1, "skipped_out_of_scope": 1}
    # the same URLs again (another page links them), plus one new
    got = await store.record_skips(
        job.id, {"http://a/1": "robots", "http://x/": "out_of_scope", "http://y/": "out_of_scope"}
    )
    assert got == {"skipped_out_of_scope": 1}
    stored = await store.get_job(job.id)
    assert stored is not None
    assert stored.stats == {"skipped_robots": 1, "skipped_out_of_scope": 2}
    assert await store.record_skips(job.id, {}) == {}


async def test_skips_for_an_unknown_job(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.record_skips(987_654, {"http://a/": "robots"})


async def test_budget_keys_are_reported(store: Store) -> None:
    (root,) = await store.create_jobs([NewJob("noop")])
    res = await store.spawn_children(
        [NewJob("noop", parent_id=root.id, dedupe_key=f"u{i}") for i in range(5)], max_children=3
    )
    assert len(res.created) == 3 and res.over_budget == 2
    assert res.over_budget_keys == ["u3", "u4"]


async def test_skips_are_listed_by_reason_and_paginated(store: Store) -> None:
    (job,) = await store.create_jobs([NewJob("noop")])
    await store.record_skips(
        job.id, {"http://a/3": "robots", "http://a/1": "too_large", "http://a/2": "robots"}
    )
    page = await store.list_skips(job.id)
    assert page.total == 3
    assert [i["url"] for i in page.items] == ["http://a/1", "http://a/2", "http://a/3"]
    page = await store.list_skips(job.id, "robots", limit=1, offset=1)
    assert page.total == 2 and page.items == [{"url": "http://a/3", "reason": "robots"}]
    assert (await store.list_skips(job.id, "nothing")).total == 0


async def test_broken_links_count_once_and_merge_referrers(store: Store) -> None:
    (job,) = await store.create_jobs([NewJob("noop")])
    assert await store.record_broken_link(job.id, "http://a/x", 404, ["http://a/", "http://a/"])
    assert not await store.record_broken_link(job.id, "http://a/x", 410, ["http://a/b"])
    assert await store.record_broken_link(job.id, "http://a/w", 404, [])
    page = await store.list_broken_links(job.id)
    assert page.total == 2
    assert page.items == [
        {"url": "http://a/w", "status": 404, "referrers": []},
        {"url": "http://a/x", "status": 410, "referrers": ["http://a/", "http://a/b"]},
    ]
    stored = await store.get_job(job.id)
    assert stored is not None and stored.stats == {"broken_links": 2}
    with pytest.raises(JobNotFound):
        await store.record_broken_link(987_654, "http://a/", 404, [])


async def test_aliases_count_once(store: Store) -> None:
    (job,) = await store.create_jobs([NewJob("noop")])
    assert await store.record_aliases(job.id, {"http://a/p": "http://a/p/"}, "redirect") == 1
    assert (
        await store.record_aliases(
            job.id, {"http://a/p": "http://a/p/", "http://a/q?x": "http://a/q"}, "canonical"
        )
        == 1
    )
    page = await store.list_aliases(job.id)
    assert page.items == [
        {"url": "http://a/p", "target": "http://a/p/", "reason": "redirect"},
        {"url": "http://a/q?x", "target": "http://a/q", "reason": "canonical"},
    ]
    stored = await store.get_job(job.id)
    assert stored is not None
    assert stored.stats == {"aliases": 2, "aliases_canonical": 1, "aliases_redirect": 1}
    # deleting the job deletes what it recorded
    await store.cancel_subtree(job.id)
    await store.delete_subtree(job.id)
    assert (await store.list_aliases(job.id)).total == 0


async def test_patch_document_metadata(store: Store) -> None:
    from quaero.documents.models import NewDocument

    (job,) = await store.create_jobs([NewJob("noop")])
    await store.save_document(
        NewDocument(url="http://a/p", title="t", markdown="m", metadata={"depth": 5, "x": 1}),
        job.id,
        job.id,
    )
    assert await store.patch_document_metadata("http://a/p", {"depth": 2})
    doc = await store.get_document(url="http://a/p")
    assert doc is not None and doc.metadata == {"depth": 2, "x": 1}
    assert not await store.patch_document_metadata("http://a/none", {"depth": 1})
