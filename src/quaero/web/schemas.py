"""Request and response bodies of the REST API (they also make the OpenAPI document).

Errors, the convention every route follows so that ``/openapi.json`` stays exact:

- every error body is :class:`ErrorOut`, ``{"detail": "<sentence>"}`` (validation errors
  too: ``deps.install_error_handlers`` turns FastAPI's list into one sentence);
- a route declares the errors *it* raises with ``responses=errors(404, 409)`` and a
  success status other than 200 with ``status_code=201`` (or ``responses=`` for a
  second one, e.g. ``PUT`` that answers 200 or 201);
- the errors every route shares are added by ``openapi.py`` for all routes, present and
  future: 403 (Host/Origin checks), 422 for any route with parameters or a body, 400 and
  413 for a body, 401 for routes behind ``require_token``, 503 (store unavailable);
- a query parameter with a closed set of values declares it: a ``Literal``, an enum, or
  ``Query(json_schema_extra=one_of(...))`` when the route parses it itself;
- ids and offsets use the bounded types of ``params.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERROR_DESCRIPTIONS",
    "BulkAction",
    "BulkOut",
    "ChildCounts",
    "CrawlSummary",
    "CreateJob",
    "DocumentItem",
    "DocumentOut",
    "DocumentPage",
    "ErrorGroupOut",
    "ErrorGroupPage",
    "ErrorOut",
    "FailureItem",
    "FailurePage",
    "JobOut",
    "JobPage",
    "JobStats",
    "JobTypeInfo",
    "JobTypes",
    "LogItem",
    "LogPage",
    "RetryJob",
    "SearchHitOut",
    "errors",
    "items_one_of",
    "one_of",
]


class ErrorOut(BaseModel):
    """Every error response: one sentence saying what is wrong."""

    detail: str = Field(examples=["job 42 not found"])


#: what each error status means, everywhere in the API
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request body is not valid JSON.",
    401: "Missing or invalid API token.",
    403: "The Host is not allowed, or a cross-origin request was refused.",
    404: "No such job, document or definition.",
    409: "The job's state does not allow this.",
    413: "The request body is over [server] max_body_bytes.",
    422: "A parameter or the body is invalid (the sentence names it).",
    503: "The store is unavailable.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error model and its meaning."""
    return {c: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[c]} for c in codes}


def one_of(values: Iterable[str]) -> dict[str, Any]:
    """``json_schema_extra`` declaring the closed set of values of a string query
    parameter that the route parses itself (for a clearer 422 than FastAPI's)."""
    return {"enum": list(values)}


def items_one_of(values: Iterable[str]) -> dict[str, Any]:
    """``json_schema_extra`` for a repeatable query parameter whose items are a set."""
    return {"items": {"type": "string", "enum": list(values)}}


class ChildCounts(BaseModel):
    """A parent's direct children by status (exact: kept in the same transaction)."""

    total: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int


class CrawlSummary(BaseModel):
    """The truth about a crawl, from its exact counters (``crawl`` jobs only)."""

    discovered: int = Field(description="URLs accepted as pages plus those over the page budget")
    pending: int
    running: int
    completed: int
    failed: int
    skipped: int = Field(
        description="URLs not crawled (never fetched, or refused by a policy when fetched):"
        " the sum of skipped_by_reason"
    )
    skipped_by_reason: dict[str, int] = Field(
        examples=[{"robots": 2, "out_of_scope": 41, "budget": 0}]
    )
    discovery_open: bool = Field(
        description="pages may still discover URLs (the crawl is not finished)"
    )
    documents: int = Field(description="documents this crawl saved (its result_count)")
    broken_links: int = Field(
        0, description="pages that answered 404 or 410 (listed at /api/jobs/{id}/broken-links)"
    )
    aliases: int = Field(
        0, description="other URLs of saved documents (redirects, canonical twins, refreshes)"
    )
    requests: int = Field(0, description="page requests sent (redirect answers and retries too)")
    redirects: int = Field(0, description="URLs that answered with a redirect (aliases)")


class JobOut(BaseModel):
    """A job as the API returns it (``quaero.jobs.models.job_to_dict``)."""

    id: int
    parent_id: int | None
    root_id: int
    depth: int
    job_type: str
    name: str
    config: dict[str, Any]
    metadata: dict[str, Any]
    status: str = Field(description="stored status: pending|running|completed|failed|cancelled")
    overall_status: str = Field(description="the parent's status derived from its children")
    attempts: int
    max_attempts: int
    error: str | None
    result: Any = None
    result_count: int = Field(description="results (e.g. documents) counted on this job")
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    available_at: str | None = None
    lease_owner: str | None = None
    waiting_for_children: bool = False
    progress_text: str = Field(examples=["66 pending, 1 running, 41 completed, 0 failed"])
    children: ChildCounts
    descendants: ChildCounts = Field(description="every job below this one, by status")
    error_group: str | None = Field(
        default=None, description="a failed job's normalised error key (its error group)"
    )
    duration_seconds: float | None = Field(
        default=None, description="first start to end, once finished"
    )
    children_pruned_at: str | None = Field(
        default=None,
        description="when the children were pruned (retention); children is then the kept,"
        " exact summary of the pruned children",
    )
    elapsed_seconds: float | None = Field(
        default=None, description="first start to now, or to the end once done; null before"
    )
    rate: float | None = Field(
        default=None,
        description="children finished per second over the last 30 s; null: unknown"
        " (no children, or less than 1 s of history)",
    )
    eta_seconds: float | None = Field(
        default=None, description="active children / rate; null while unknown; 0 once done"
    )
    progress: dict[str, Any] | None = None
    stats: dict[str, int] = Field(
        default_factory=dict, description="named counters, e.g. a crawl's skipped_<reason>"
    )
    crawl: CrawlSummary | None = Field(default=None, description="crawl jobs only")


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int
    seq: int = Field(
        description="event seq this page is current at: open /ws?after=<seq> to follow it"
    )
    children_pruned: bool = Field(
        default=False,
        description="a children listing of a parent whose children were pruned (retention):"
        " the list is empty, the parent's counters keep their summary",
    )


class JobStats(BaseModel):
    top_level: dict[str, int]
    all: dict[str, int]
    seq: int


class LogItem(BaseModel):
    id: int
    job_id: int
    timestamp: str | None
    level: str
    message: str


class LogPage(BaseModel):
    items: list[LogItem]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
    seq: int = Field(description="event seq this page is current at")


class JobTypeInfo(BaseModel):
    name: str
    description: str


class JobTypes(BaseModel):
    items: list[str]
    details: list[JobTypeInfo]


class CreateJob(BaseModel):
    """``POST /api/jobs``: a registered job type, a name and its config."""

    model_config = ConfigDict(extra="forbid", strict=True)

    job_type: str = Field(min_length=1, max_length=100, examples=["fanout"])
    name: str = Field(default="", max_length=500, examples=["demo"])
    config: dict[str, Any] = Field(
        default_factory=dict, examples=[{"children": 200, "child_config": {"sleep_ms": 200}}]
    )


class FailureItem(BaseModel):
    """A failed child: its URL (crawl pages), the reason (the error's prefix) and message."""

    job_id: int
    name: str
    url: str | None
    reason: str = Field(examples=["http_404"])
    message: str = Field(examples=["http_404: HTTP 404 Not Found"])
    attempts: int
    completed_at: str | None


class FailurePage(BaseModel):
    items: list[FailureItem]
    total: int
    limit: int
    offset: int
    seq: int = Field(description="event seq this page is current at")


class SkipItem(BaseModel):
    """A URL a crawl did not crawl, with the reason (``robots``, ``too_large``, ...)."""

    url: str
    reason: str = Field(examples=["too_large"])


class SkipPage(BaseModel):
    items: list[SkipItem]
    total: int
    limit: int
    offset: int


class BrokenLinkItem(BaseModel):
    """A page that answered 404 or 410, and pages that link to it."""

    url: str
    status: int = Field(examples=[404])
    referrers: list[str] = Field(
        description="pages linking to it: the page that discovered it first, then others"
        " the crawling process saw (at most 20)"
    )


class BrokenLinkPage(BaseModel):
    items: list[BrokenLinkItem]
    total: int
    limit: int
    offset: int


class AliasItem(BaseModel):
    """Another URL of a saved document: ``target`` is the document's URL."""

    url: str
    target: str
    reason: str = Field(examples=["redirect"], description="redirect, canonical or refresh")


class AliasPage(BaseModel):
    items: list[AliasItem]
    total: int
    limit: int
    offset: int


class SearchHitOut(BaseModel):
    """A search result; ``snippet_html`` is escaped text with matches in ``<mark>``."""

    id: int
    url: str
    title: str
    snippet: str
    snippet_html: str
    score: float


class DocumentItem(BaseModel):
    """A document in a listing (no markdown body)."""

    id: int
    url: str
    title: str
    fetched_at: str | None
    status_code: int
    content_type: str
    description: str
    language: str
    canonical_url: str
    word_count: int
    links_found: int
    links_followed: int
    job_ids: list[int] = Field(description="the crawls that saved it")
    metadata: dict[str, Any]
    created_at: str | None
    updated_at: str | None


class DocumentOut(DocumentItem):
    """One document with its markdown body."""

    markdown: str


class DocumentPage(BaseModel):
    """Search results (``q`` given: best first) or the newest documents (no ``q``)."""

    items: list[SearchHitOut] | list[DocumentItem]
    total: int
    limit: int
    offset: int
    q: str | None = Field(description="the search query, or null for a plain listing")


class RetryJob(BaseModel):
    """``POST /api/jobs/{id}/retry``: ``{}`` retries the job itself; ``children`` retries
    every failed (or failed and cancelled) job of its subtree instead."""

    model_config = ConfigDict(extra="forbid", strict=True)

    children: Literal["failed", "failed_and_cancelled"] | None = Field(
        default=None, examples=["failed"]
    )


class BulkAction(BaseModel):
    """``POST /api/jobs/{id}/children/cancel|retry|delete``: the children (every
    descendant with ``subtree``) matching the children listing's filters."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: list[str] = Field(
        default_factory=list,
        description="statuses to match (none: any)",
        examples=[["failed"]],
        json_schema_extra=items_one_of(["pending", "running", "completed", "failed", "cancelled"]),
    )
    job_type: str | None = Field(default=None, max_length=100)
    error_group: str | None = Field(
        default=None, max_length=200, description="a key from GET /api/jobs/{id}/errors"
    )
    subtree: bool = Field(default=False, description="every descendant, not only children")


class BulkOut(BaseModel):
    """What a bulk action (or a retry) did."""

    changed: int = Field(description="jobs whose status changed (or that were deleted)")
    refused: int = Field(description="matching jobs the action does not apply to")
    matched: int = Field(description="jobs the filter matched")


class ErrorGroupOut(BaseModel):
    key: str = Field(examples=["http_503", "ValueError: row <n> of <str>"])
    count: int = Field(description="failed descendants with this key (exact)")
    sample_job_ids: list[int] = Field(description="a few of the latest, still failed")
    last_seen: str | None = Field(description="when the latest of them failed")


class ErrorGroupPage(BaseModel):
    items: list[ErrorGroupOut]


class DocumentsDeleted(BaseModel):
    job_id: int
    deleted: int = Field(description="documents deleted")
    unlinked: int = Field(description="documents kept because another crawl also saved them")
