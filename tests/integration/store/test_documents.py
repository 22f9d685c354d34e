"""Store contract: documents upserted by URL, per-crawl counts, ranked full-text search."""

from __future__ import annotations

import pytest

from quaero.documents.models import NewDocument
from quaero.errors import InvalidJobSpec, JobNotFound
from quaero.store.base import Store

from .conftest import Recorder
from .helpers import running_root


def doc(url: str, title: str, body: str, description: str = "") -> NewDocument:
    return NewDocument(url, title, body, description=description, word_count=len(body.split()))


async def test_save_upserts_by_url_and_counts_once_per_crawl(
    store: Store, recorder: Recorder
) -> None:
    crawl = await running_root(store)
    d1, new = await store.save_document(doc("http://a/1", "Pelicans", "birds"), crawl.id, crawl.id)
    assert new and d1.id > 0 and d1.job_ids == [crawl.id] and d1.title == "Pelicans"
    d2, new2 = await store.save_document(
        doc("http://a/1", "Pelicans 2", "more birds"), crawl.id, crawl.id
    )
    assert not new2 and d2.id == d1.id and d2.title == "Pelicans 2" and d2.markdown == "more birds"
    other = await running_root(store)
    d3, new3 = await store.save_document(doc("http://a/1", "Pelicans 3", "x"), other.id, other.id)
    assert new3 and d3.id == d1.id and d3.job_ids == [crawl.id, other.id]
    got_crawl, got_other = await store.get_job(crawl.id), await store.get_job(other.id)
    assert got_crawl and got_crawl.result_count == 1
    assert got_other and got_other.result_count == 1
    saved = [e for e in recorder.events if e.type == "document_saved"]
    assert [e.payload["new"] for e in saved] == [True, False, True]
    assert saved[0].payload["document_id"] == d1.id and saved[0].payload["url"] == "http://a/1"
    by_url = await store.get_document(url="http://a/1")
    by_id = await store.get_document(d1.id)
    assert by_url and by_id and by_url.id == by_id.id and by_id.title == "Pelicans 3"
    assert await store.get_document(10**9) is None
    with pytest.raises(JobNotFound):
        await store.save_document(doc("http://a/2", "t", "b"), 10**9, 10**9)


async def test_search_ranks_titles_first_and_filters_by_crawl(store: Store) -> None:
    crawl = await running_root(store)
    other = await running_root(store)
    await store.save_document(
        doc("http://s/body", "Unrelated", "the vacuum process reclaims storage " * 3),
        crawl.id,
        crawl.id,
    )
    await store.save_document(
        doc("http://s/title", "Vacuum", "routine maintenance"), crawl.id, crawl.id
    )
    await store.save_document(doc("http://s/other", "Vacuuming", "elsewhere"), other.id, other.id)
    await store.save_document(doc("http://s/none", "Indexes", "btree and gin"), crawl.id, crawl.id)
    page = await store.search_documents("vacuum")
    assert page.total == 3
    urls = [h.url for h in page.items]
    assert set(urls) == {"http://s/body", "http://s/title", "http://s/other"}
    assert urls.index("http://s/title") < urls.index("http://s/body")  # title beats body
    assert page.items[0].score >= page.items[-1].score
    body_hit = next(h for h in page.items if h.url == "http://s/body")
    assert "\x02" in body_hit.snippet and "\x03" in body_hit.snippet  # marked matches
    mine = await store.search_documents("vacuum", job_id=crawl.id)
    assert mine.total == 2 and {h.url for h in mine.items} == {"http://s/body", "http://s/title"}
    both = await store.search_documents("vacuum storage")  # every word must match
    assert [h.url for h in both.items] == ["http://s/body"]
    paged = await store.search_documents("vacuum", limit=1, offset=1)
    assert paged.total == 3 and len(paged.items) == 1
    assert (await store.search_documents("nothingmatchesthis")).total == 0
    with pytest.raises(InvalidJobSpec):
        await store.search_documents("  !!  ")


async def test_list_documents_newest_first_and_per_crawl(store: Store) -> None:
    crawl = await running_root(store)
    other = await running_root(store)
    for i in range(3):
        await store.save_document(doc(f"http://l/{i}", f"t{i}", "b"), crawl.id, crawl.id)
    await store.save_document(doc("http://l/x", "tx", "b"), other.id, other.id)
    everything = await store.list_documents()
    assert everything.total == 4 and everything.items[0].url == "http://l/x"
    mine = await store.list_documents(limit=2, job_id=crawl.id)
    assert mine.total == 3 and [d.url for d in mine.items] == ["http://l/2", "http://l/1"]


async def test_snippets_are_text_not_markdown(store: Store) -> None:
    """Both backends cut the snippet from the stored markdown; a hit carries its words
    without the syntax (`# Page 1 … - [next page…` was what a fresh user read)."""
    crawl = await running_root(store)
    body = (
        "# Quokka page\n\nQuokkas are **small** marsupials.\n\n- [next quokka page](http://q/2)\n"
    )
    await store.save_document(doc("http://q/1", "Marsupials", body), crawl.id, crawl.id)
    [hit] = (await store.search_documents("quokka")).items
    text = hit.snippet.replace("\x02", "").replace("\x03", "")
    assert " ".join(text.split()) == "Quokka page Quokkas are small marsupials. next quokka page"
