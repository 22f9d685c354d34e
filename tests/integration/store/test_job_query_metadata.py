"""Store contract: ``JobQuery.metadata`` lists jobs by metadata values (job definitions
find their runs with it)."""

from __future__ import annotations

import pytest

from quaero.errors import InvalidJobSpec
from quaero.jobs.models import JobStatus, NewJob, StatusChange
from quaero.store.base import JobQuery, Store


async def test_filter_by_metadata_values(store: Store) -> None:
    specs = [
        NewJob("noop", name="a1", metadata={"definition": "a", "trigger": "schedule"}),
        NewJob("noop", name="b1", metadata={"definition": "b", "trigger": "api"}),
        NewJob("noop", name="a2", metadata={"definition": "a", "trigger": "api", "n": 2}),
        NewJob("noop", name="none"),
        NewJob("noop", name="nested", metadata={"definition": {"a": 1}, "flag": True}),
    ]
    jobs = await store.create_jobs(specs)

    async def names(**metadata: str | int | bool) -> list[str]:
        page = await store.list_jobs(JobQuery(metadata=metadata, descending=False))
        assert page.total == len(page.items)
        return [j.name for j in page.items]

    assert await names(definition="a") == ["a1", "a2"]
    assert await names(definition="a", trigger="api") == ["a2"]
    assert await names(n=2) == ["a2"]
    assert await names(n=3) == []
    assert await names(flag=True) == ["nested"]
    assert await names(definition="c") == []
    assert await names() == ["a1", "b1", "a2", "none", "nested"]
    # combined with the other filters
    await store.apply_changes([StatusChange(jobs[0].id, JobStatus.RUNNING)])
    page = await store.list_jobs(
        JobQuery(statuses=[JobStatus.PENDING], parent_id="root", metadata={"definition": "a"})
    )
    assert [j.name for j in page.items] == ["a2"]


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"a.b": "x"}, "must match [A-Za-z0-9_]+"),
        ({"$": "x"}, "must match"),
        ({"k": 1.5}, "must be a string or an integer"),
        ({"k": None}, "must be a string or an integer"),
    ],
)
async def test_bad_metadata_filters_are_refused(
    store: Store, metadata: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidJobSpec, match=fragment.replace("[", r"\[").replace("+", r"\+")):
        await store.list_jobs(JobQuery(metadata=metadata))  # type: ignore[arg-type]
