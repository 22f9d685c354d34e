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
