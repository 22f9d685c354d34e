"""The store refuses integers no column can hold (InvalidArgument, nothing read or
written) on both backends, for every method taking an id, an offset or a limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from quaero.errors import InvalidArgument, InvalidJobSpec
from quaero.jobs.models import NewJob
from quaero.store.base import JobQuery, LogQuery, Store

HUGE = 2**63

CALLS: list[tuple[str, Callable[[Store], Awaitable[Any]]]] = [
    ("get_job", lambda s: s.get_job(HUGE)),
    ("get_job negative", lambda s: s.get_job(-1)),
    ("cancel_subtree", lambda s: s.cancel_subtree(HUGE)),
    ("delete_subtree", lambda s: s.delete_subtree(HUGE)),
    ("add_job_stats", lambda s: s.add_job_stats(HUGE, {"x": 1})),
    ("set_progress", lambda s: s.set_progress(HUGE, {"current": 1})),
    ("add_result_count", lambda s: s.add_result_count(HUGE, 1)),
    ("get_document", lambda s: s.get_document(document_id=HUGE)),
    ("list_documents offset", lambda s: s.list_documents(10, HUGE)),
    ("list_documents job", lambda s: s.list_documents(10, 0, HUGE)),
    ("search_documents", lambda s: s.search_documents("x", 10, HUGE)),
    ("read_events", lambda s: s.read_events(HUGE)),
    ("read_events ids", lambda s: s.read_events(0, job_ids=[HUGE])),
    ("heartbeat", lambda s: s.heartbeat("w", [HUGE], 1.0)),
    ("list_jobs", lambda s: s.list_jobs(JobQuery(offset=HUGE))),
    ("read_logs", lambda s: s.read_logs(LogQuery(HUGE))),
]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[c[0] for c in CALLS])
async def test_out_of_range_integers_are_refused(
    store: Store, name: str, call: Callable[[Store], Awaitable[Any]]
) -> None:
    with pytest.raises(InvalidArgument) as err:
        await call(store)
    assert "must be" in str(err.value)


async def test_largest_id_reads_as_missing(store: Store) -> None:
    assert await store.get_job(2**63 - 1) is None


@pytest.mark.parametrize(
    "spec",
    [
        NewJob("noop", {"n": HUGE}),
        NewJob("noop", {"deep": [{"n": -(2**63) - 1}]}),
        NewJob("noop", metadata={"n": 10**30}),
        NewJob("noop", max_attempts=HUGE),
        NewJob("noop", parent_id=HUGE),
        NewJob("noop", delay=float("inf")),
    ],
)
async def test_specs_that_cannot_be_stored_are_refused(store: Store, spec: NewJob) -> None:
    with pytest.raises(InvalidJobSpec):
        await store.create_jobs([spec])
    assert (await store.list_jobs(JobQuery())).total == 0


async def test_page_text_with_nul_characters_is_stored(store: Store) -> None:
    from quaero.documents.models import NewDocument

    [root] = await store.create_jobs([NewJob("crawl")])
    doc, new = await store.save_document(
        NewDocument("https://a.example/", "ti\x00tle", "body \x00 text", description="d\x00"),
        root.id,
        root.id,
    )
    assert new and doc.title == "ti\ufffdtle" and doc.markdown == "body \ufffd text"
    got = await store.get_document(url="https://a.example/")
    assert got is not None and got.description == "d\ufffd"


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_document(url="https://a.example/\x00"),
        lambda s: s.search_documents("wo\x00rd"),
        lambda s: s.list_jobs(JobQuery(text="a\x00")),
        lambda s: s.list_jobs(JobQuery(job_type="no\x00op")),
    ],
)
async def test_nul_in_read_arguments_is_bad_input(
    store: Store, call: Callable[[Store], Awaitable[Any]]
) -> None:
    with pytest.raises(InvalidArgument, match="NUL"):
        await call(store)
