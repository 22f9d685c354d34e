"""REST: ``/api/documents`` (search or list, one document by id or by URL).

Documents are the pages crawls saved (``quaero.documents``). A listing never carries the
markdown bodies; one document does. Search is the store's ranked full-text search:
titles weigh more than body text, snippets mark the matched words.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from ..app import App
from ..bounds import MAX_INT
from ..documents.models import Document
from ..errors import InvalidJobSpec
from .deps import get_app, require_token
from .params import DocumentIdPath, OffsetQuery
from .schemas import DocumentOut, DocumentPage

__all__ = ["router"]

router = APIRouter(
    prefix="/api/documents", tags=["documents"], dependencies=[Depends(require_token)]
)

AppDep = Annotated[App, Depends(get_app)]
MAX_PAGE = 100
MAX_QUERY = 500
MAX_URL = 8192


@router.get("", response_model=DocumentPage, summary="Search or list documents")
async def list_documents(
    app: AppDep,
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY, description="words to search for (all must match)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    offset: OffsetQuery = 0,
    job_id: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="only documents of this crawl")
    ] = None,
) -> dict[str, Any]:
    """With ``q``: ranked search results (best first) with snippets. Without ``q``: the
    newest documents (no markdown bodies). ``job_id`` restricts either to one crawl."""
    if job_id is not None and await app.store.get_job(job_id) is None:
        raise HTTPException(404, f"job {job_id} not found")
    if q is not None:
        if not q.strip():
            raise HTTPException(422, "query q: is empty; give words to search for, or omit q")
        try:
            hits = await app.store.search_documents(q, limit, offset, job_id)
        except InvalidJobSpec as exc:  # no searchable words in it
            raise HTTPException(422, f"query q: {exc}") from None
        items = [h.to_dict() for h in hits.items]
        total = hits.total
    else:
        page = await app.store.list_documents(limit, offset, job_id)
        items = [d.to_dict(with_markdown=False) for d in page.items]
        total = page.total
    return {"items": items, "total": total, "limit": limit, "offset": offset, "q": q}


@router.get("/by-url", response_model=DocumentOut, summary="One document by URL")
async def get_document_by_url(
    app: AppDep,
    url: Annotated[str, Query(min_length=1, max_length=MAX_URL, description="the page's URL")],
) -> dict[str, Any]:
    """The document saved for ``url`` (as given, or normalised the way the crawler
    normalises URLs: lower-case host, no fragment, ...); 404 if there is none."""
    doc = await app.store.get_document(url=url)
    if doc is None:
        normalized = _normalize(url)
        if normalized is not None and normalized != url:
            doc = await app.store.get_document(url=normalized)
    return _or_404(doc, f"no document for URL {url!r}")


@router.get("/{document_id}", response_model=DocumentOut, summary="One document")
async def get_document(app: AppDep, document_id: DocumentIdPath) -> dict[str, Any]:
    """A document with its markdown body; 404 if there is none with this id."""
    doc = await app.store.get_document(document_id=document_id)
    return _or_404(doc, f"document {document_id} not found")


def _or_404(doc: Document | None, message: str) -> dict[str, Any]:
    if doc is None:
        raise HTTPException(404, message)
    return doc.to_dict()


def _normalize(url: str) -> str | None:
    try:  # the crawler is an optional part of quaero
        from ..crawler.urls import try_normalize
    except ImportError:  # pragma: no cover - depends on the install
        return None
    return try_normalize(url.strip())
