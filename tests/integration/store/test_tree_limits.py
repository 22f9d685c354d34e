"""Store contract: ``[jobs] max_depth`` and ``max_children_per_job`` are enforced by the
store on spawn, in the spawning transaction (nothing of a refused batch is created)."""

from __future__ import annotations

import pytest

from quaero.errors import InvalidJobSpec
from quaero.jobs.models import NewJob
from quaero.jobs.planner import TreeLimits
from quaero.store.base import JobQuery, Store, open_store

from .helpers import counters, running_root


@pytest.fixture
async def limited(store_url: str) -> Store:
    s = open_store(store_url, tree_limits=TreeLimits(max_depth=2, max_children_per_job=5))
    await s.open()
    yield s  # type: ignore[misc]
    await s.close()


async def test_depth_limit(limited: Store) -> None:
    root = await running_root(limited)
    [mid] = await limited.create_jobs([NewJob("noop", parent_id=root.id)])
    [leaf] = await limited.create_jobs([NewJob("noop", parent_id=mid.id)])
    assert leaf.depth == 2
    with pytest.raises(InvalidJobSpec, match=r"max_depth = 2"):
        await limited.create_jobs([NewJob("noop", parent_id=leaf.id)])
    assert (await counters(limited, leaf.id))["total"] == 0


async def test_children_per_job_limit_refuses_the_whole_batch(limited: Store) -> None:
    root = await running_root(limited)
    await limited.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(3)])
    with pytest.raises(InvalidJobSpec, match=r"already has 5 children.*max_children_per_job = 5"):
        await limited.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(3)])
    assert (await counters(limited, root.id))["total"] == 3  # none of the batch of 3
    await limited.create_jobs([NewJob("noop", parent_id=root.id) for _ in range(2)])
    page = await limited.list_jobs(JobQuery(parent_id=root.id))
    assert page.total == 5


async def test_a_spawn_budget_is_not_an_error(limited: Store) -> None:
    """``max_children`` (a crawl's page budget) skips quietly before the hard limit."""
    root = await running_root(limited)
    result = await limited.spawn_children(
        [NewJob("noop", parent_id=root.id) for _ in range(9)], max_children=4
    )
    assert len(result.created) == 4 and result.over_budget == 5
