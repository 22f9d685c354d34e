"""REST: ``/api/jobs`` (list, stats, one job, children, failures, a crawl's skipped URLs,
broken links and aliases, logs, create, cancel, rerun, delete).

Every route is thin: parse and check the input, call the store or the manager, turn the
result into JSON. Listings are paginated and never load a parent's children at once.
A job's JSON is the engine's :func:`job_to_dict` plus, for a crawl, the ``crawl`` summary
(:func:`job_json`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from ..app import App
from ..errors import JobStateError
from ..jobs.models import Job, JobStatus, iso, job_to_dict
from ..jobs.progress import overall_status
from ..store.base import JOB_ORDER_KEYS, LOG_LEVELS, ChildFilter, JobQuery, LogQuery
from .deps import check_job_policy, get_app, require_token
from .params import CursorQuery, Direction, JobIdPath, OffsetQuery, ParentQuery, parse_parent
from .schemas import (
    AliasPage,
    BrokenLinkPage,
    BulkAction,
    BulkOut,
    CreateJob,
    ErrorGroupPage,
    FailurePage,
    JobOut,
    JobPage,
    JobStats,
    LogPage,
    RetryJob,
    SkipPage,
    errors,
    items_one_of,
    one_of,
)

__all__ = ["crawl_summary", "failure_item", "job_json", "router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"], dependencies=[Depends(require_token)])

AppDep = Annotated[App, Depends(get_app)]
MAX_PAGE = 500
StatusQ = Annotated[
    list[str],
    Query(
        description="repeatable, or comma-separated",
        json_schema_extra=items_one_of(s.value for s in JobStatus),
    ),
]
OrderQ = Annotated[str, Query(json_schema_extra=one_of(sorted(JOB_ORDER_KEYS)))]
STATUS_NAMES = ", ".join(s.value for s in JobStatus)
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
SKIPPED = "skipped_"


def crawl_summary(job: Job) -> dict[str, Any]:
    """A crawl's progress as it is: pages by status, URLs skipped by reason, documents.

    ``discovered`` counts every URL the crawl accepted (its pages, one child each) plus
    those refused only because the page budget was spent (``skipped_budget``); URLs out
    of scope, disallowed by robots.txt, too deep or of a skipped extension are not
    discovered pages, only ``skipped``. Discovery is open while the crawl is unfinished:
    any running page may still add URLs.
    """
    c = job.children
    by_reason = {
        k.removeprefix(SKIPPED): v for k, v in sorted(job.stats.items()) if k.startswith(SKIPPED)
    }
    return {
        "discovered": c.total + by_reason.get("budget", 0),
        "pending": c.pending,
        "running": c.running,
        "completed": c.completed,
        "failed": c.failed,
        "skipped": sum(by_reason.values()),
        "skipped_by_reason": by_reason,
        "discovery_open": overall_status(job.status, c) not in TERMINAL,
        "documents": job.result_count,
        "broken_links": job.stats.get("broken_links", 0),
        "aliases": job.stats.get("aliases", 0),
        "requests": job.stats.get("requests", 0),
        "redirects": job.stats.get("aliases_redirect", 0),
    }


def job_json(job: Job) -> dict[str, Any]:
    """The API's form of a job: :func:`job_to_dict`, and ``crawl`` for crawl jobs."""
    d = job_to_dict(job)
    d["crawl"] = crawl_summary(job) if job.job_type == "crawl" else None
    return d


def failure_item(job: Job) -> dict[str, Any]:
    """A failed child as ``{url, reason, message}``: the reason is the error's prefix
    (``http_404: HTTP 404 Not Found`` → ``http_404``)."""
    message = job.error or ""
    url = job.config.get("url")
    return {
        "job_id": job.id,
        "name": job.name,
        "url": url if isinstance(url, str) else None,
        "reason": message.partition(":")[0].strip()[:100] or "unknown",
        "message": message,
        "attempts": job.attempts,
        "completed_at": iso(job.completed_at),
    }


def parse_statuses(values: list[str]) -> list[JobStatus]:
    """``?status=a&status=b`` or ``?status=a,b``; 422 naming the bad value."""
    out: list[JobStatus] = []
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                out.append(JobStatus(part.lower()))
            except ValueError:
                raise HTTPException(
                    422, f"unknown status {part!r}; use one of {STATUS_NAMES}"
                ) from None
    return out


def parse_order(order_by: str) -> str:
    if order_by not in JOB_ORDER_KEYS:
        raise HTTPException(
            422, f"cannot order by {order_by!r}; use one of {', '.join(sorted(JOB_ORDER_KEYS))}"
        )
    return order_by


async def _page(app: App, query: JobQuery) -> dict[str, Any]:
    seq = app.bus.last_seq  # before the read: the page reflects at least this seq
    page = await app.store.list_jobs(query)
    return {
        "items": [job_json(j) for j in page.items],
        "total": page.total,
        "limit": query.limit,
        "offset": query.offset,
        "seq": seq,
    }


async def _job_or_404(app: App, job_id: int) -> Any:
    job = await app.store.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    return job


@router.get("", response_model=JobPage, summary="List jobs")
async def list_jobs(
    app: AppDep,
    status: StatusQ = [],  # noqa: B006
    job_type: Annotated[str | None, Query(max_length=100)] = None,
    parent_id: ParentQuery = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the name")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: OffsetQuery = 0,
    order_by: OrderQ = "id",
    direction: Direction = "desc",
) -> dict[str, Any]:
    """Filter by status (several), type, parent (``root`` = top-level) and name text.
    With a parent id, ``children_pruned`` says whether retention pruned its children."""
    query = JobQuery(
        statuses=parse_statuses(status),
        job_type=job_type or None,
        parent_id=parse_parent(parent_id),
        text=q or None,
        limit=limit,
        offset=offset,
        order_by=parse_order(order_by),
        descending=direction == "desc",
    )
    page = await _page(app, query)
    if isinstance(query.parent_id, int):
        parent = await app.store.get_job(query.parent_id)
        page["children_pruned"] = parent is not None and parent.children_pruned_at is not None
    return page


@router.get("/stats", response_model=JobStats, summary="Counts by status")
async def job_stats(app: AppDep) -> dict[str, Any]:
    """Jobs by status: top-level jobs and all jobs."""
    seq = app.bus.last_seq
    return {**(await app.store.job_stats()), "seq": seq}


@router.post("", response_model=JobOut, status_code=201, summary="Start a job")
async def create_job(app: AppDep, body: CreateJob) -> dict[str, Any]:
    """Validate the config against the job type and create a top-level job."""
    check_job_policy(app.settings, body.config)
    job = await app.manager.create_job(body.job_type, body.config, body.name)
    return job_json(job)


@router.get("/{job_id:id}", response_model=JobOut, summary="One job", responses=errors(404))
async def get_job(app: AppDep, job_id: JobIdPath) -> dict[str, Any]:
    return job_json(await _job_or_404(app, job_id))


@router.get(
    "/{job_id:id}/children",
    response_model=JobPage,
    summary="A job's children",
    responses=errors(404),
)
async def list_children(
    app: AppDep,
    job_id: JobIdPath,
    status: StatusQ = [],  # noqa: B006
    job_type: Annotated[str | None, Query(max_length=100)] = None,
    error_group: Annotated[
        str | None, Query(max_length=200, description="a key from /api/jobs/{id}/errors")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: OffsetQuery = 0,
    order_by: OrderQ = "id",
    direction: Direction = "asc",
) -> dict[str, Any]:
    """One page of the direct children (a parent may have millions: always paginated),
    filtered by status, job type and error group (an indexed read). ``children_pruned``
    is true when retention pruned them (the list is then empty)."""
    parent = await _job_or_404(app, job_id)
    query = JobQuery(
        statuses=parse_statuses(status),
        job_type=job_type or None,
        error_group=error_group or None,
        parent_id=job_id,
        limit=limit,
        offset=offset,
        order_by=parse_order(order_by),
        descending=direction == "desc",
    )
    return {**await _page(app, query), "children_pruned": parent.children_pruned_at is not None}


@router.get(
    "/{job_id:id}/failures",
    response_model=FailurePage,
    summary="Failed children",
    responses=errors(404),
)
async def list_failures(
    app: AppDep,
    job_id: JobIdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """One page of the failed direct children, oldest first, each with its URL (a crawl's
    pages), the reason (the error's prefix: ``http_404``, ``timeout``, ``too_large``...)
    and the full error message."""
    await _job_or_404(app, job_id)
    seq = app.bus.last_seq
    query = JobQuery(
        statuses=[JobStatus.FAILED],
        parent_id=job_id,
        limit=limit,
        offset=offset,
        order_by="id",
        descending=False,
    )
    page = await app.store.list_jobs(query)
    return {
        "items": [failure_item(j) for j in page.items],
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "seq": seq,
    }


@router.get(
    "/{job_id:id}/skipped",
    response_model=SkipPage,
    summary="URLs a crawl skipped",
    responses=errors(404),
)
async def list_skipped(
    app: AppDep,
    job_id: JobIdPath,
    reason: Annotated[
        str | None, Query(max_length=100, description="only this reason, e.g. too_large")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """One page of the URLs the job (a crawl) did not crawl, ordered by URL, each once with
    its reason (``robots``, ``out_of_scope``, ``budget``, ``too_large``, ...)."""
    await _job_or_404(app, job_id)
    page = await app.store.list_skips(job_id, reason or None, limit, offset)
    return _listing(page, limit, offset)


@router.get(
    "/{job_id:id}/broken-links",
    response_model=BrokenLinkPage,
    summary="A crawl's broken links",
    responses=errors(404),
)
async def list_broken_links(
    app: AppDep,
    job_id: JobIdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """One page of the crawl's pages that answered 404 or 410, ordered by URL, each with
    its status and pages linking to it."""
    await _job_or_404(app, job_id)
    page = await app.store.list_broken_links(job_id, limit, offset)
    return _listing(page, limit, offset)


@router.get(
    "/{job_id:id}/aliases",
    response_model=AliasPage,
    summary="A crawl's URL aliases",
    responses=errors(404),
)
async def list_aliases(
    app: AppDep,
    job_id: JobIdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """One page of the other URLs the crawl found for its documents (a redirect, a
    canonical twin, a meta refresh), ordered by URL: each was not stored again."""
    await _job_or_404(app, job_id)
    page = await app.store.list_aliases(job_id, limit, offset)
    return _listing(page, limit, offset)


def _listing(page: Any, limit: int, offset: int) -> dict[str, Any]:
    """A crawl listing's JSON (skipped URLs, broken links, aliases): one page and its total."""
    return {"items": page.items, "total": page.total, "limit": limit, "offset": offset}


async def _logs(
    app: AppDep,
    job_id: int,
    level: str | None,
    order: Direction,
    limit: int,
    cursor: int | None,
    aggregated: bool,
) -> dict[str, Any]:
    if level is not None and level not in LOG_LEVELS:
        raise HTTPException(422, f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}")
    seq = app.bus.last_seq
    entries = await app.store.read_logs(
        LogQuery(
            job_id,
            min_level=level,
            descending=order == "desc",
            limit=limit,
            cursor=cursor,
            aggregated=aggregated,
        )
    )
    next_cursor = str(entries[-1].id) if len(entries) == limit else None
    return {"items": [e.to_dict() for e in entries], "next_cursor": next_cursor, "seq": seq}


LevelQ = Annotated[
    str | None, Query(description="minimum level", json_schema_extra=one_of(LOG_LEVELS))
]
LimitQ = Annotated[int, Query(ge=1, le=1000)]


@router.get(
    "/{job_id:id}/logs", response_model=LogPage, summary="A job's log", responses=errors(404)
)
async def job_logs(
    app: AppDep,
    job_id: JobIdPath,
    level: LevelQ = None,
    order: Direction = "asc",
    limit: LimitQ = 100,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Log lines of this job; ``cursor`` continues after the last line of a page."""
    return await _logs(app, job_id, level, order, limit, cursor, aggregated=False)


@router.get(
    "/{job_id:id}/logs/aggregated",
    response_model=LogPage,
    summary="Logs of a job tree",
    responses=errors(404),
)
async def job_logs_aggregated(
    app: AppDep,
    job_id: JobIdPath,
    level: LevelQ = None,
    order: Direction = "asc",
    limit: LimitQ = 100,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Log lines of the job and all its descendants, merged in commit (time) order."""
    return await _logs(app, job_id, level, order, limit, cursor, aggregated=True)


@router.post(
    "/{job_id:id}/cancel", response_model=JobOut, summary="Cancel a job tree", responses=errors(404)
)
async def cancel_job(app: AppDep, job_id: JobIdPath, response: Response) -> dict[str, Any]:
    """Cancel the job and every pending or running descendant (queued ones never start,
    running ones are interrupted). Cancelling a finished job changes nothing."""
    n = await app.manager.cancel(job_id)
    response.headers["X-Quaero-Cancelled"] = str(n)
    return job_json(await _job_or_404(app, job_id))


@router.post(
    "/{job_id:id}/rerun",
    response_model=JobOut,
    status_code=201,
    summary="Run a copy",
    responses=errors(404),
)
async def rerun_job(app: AppDep, job_id: JobIdPath) -> dict[str, Any]:
    """A *copy*: a new top-level job with the same type, name and config (its id is in
    the body); the old job stays as it is. To run failed work again under the same ids,
    use ``POST /api/jobs/{id}/retry``."""
    check_job_policy(app.settings, (await _job_or_404(app, job_id)).config)
    return job_json(await app.manager.rerun(job_id))


@router.post(
    "/{job_id:id}/retry",
    response_model=BulkOut,
    summary="Retry in place",
    responses=errors(404, 409),
)
async def retry_job(app: AppDep, job_id: JobIdPath, body: RetryJob | None = None) -> dict[str, Any]:
    """Retry in place under the same id(s), attempts reset, previous error kept in the
    log; terminal ancestors reopen to running and wait for their children (their
    handlers do not run again).

    ``{}``: the job itself (409 unless it is failed or cancelled).
    ``{"children": "failed"}`` or ``{"children": "failed_and_cancelled"}``: every such
    job in its subtree, in chunks of one transaction each."""
    children = body.children if body is not None else None
    return (await app.retry(job_id, children)).as_dict()


@router.get(
    "/{job_id:id}/errors",
    response_model=ErrorGroupPage,
    summary="Failures grouped by error",
    responses=errors(404),
)
async def error_groups(
    app: AppDep, job_id: JobIdPath, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100
) -> dict[str, Any]:
    """The job's failed descendants grouped by normalised error key (exception class and
    message with numbers, ids, URLs and quoted values masked; a crawl page's failure
    reason such as ``http_503``), largest first. Counts are exact; O(groups)."""
    groups = await app.store.error_groups(job_id, limit)
    return {"items": [g.to_dict() for g in groups]}


@router.post(
    "/{job_id:id}/children/{action}",
    response_model=BulkOut,
    summary="Cancel, retry or delete many children",
    responses=errors(404, 409),
)
async def bulk_children(
    app: AppDep,
    job_id: JobIdPath,
    action: Literal["cancel", "retry", "delete"],
    body: BulkAction | None = None,
) -> dict[str, Any]:
    """Act on the children (every descendant with ``"subtree": true``) matching the
    children listing's filters: ``status``, ``job_type``, ``error_group``.

    ``cancel`` cancels matching pending/running jobs (and what runs below them);
    ``retry`` retries matching failed/cancelled jobs in place; ``delete`` deletes matching
    finished jobs with their subtrees and is refused (409, nothing deleted) when any
    matching job is pending or running. Each runs in chunks of one transaction; counters
    are exact at every commit. The response counts jobs changed and matching jobs the
    action does not apply to (``refused``)."""
    body = body or BulkAction()
    f = ChildFilter(
        statuses=parse_statuses(body.status),
        job_type=body.job_type or None,
        error_group=body.error_group or None,
        subtree=body.subtree,
    )
    result = await app.manager.bulk(job_id, action, f)
    return result.as_dict()


@router.delete(
    "/{job_id:id}", status_code=204, summary="Delete a job tree", responses=errors(404, 409)
)
async def delete_job(app: AppDep, job_id: JobIdPath, cancel: bool = False) -> Response:
    """Delete a finished job with its subtree and logs. A job with pending or running
    jobs in its tree is refused (409) unless ``?cancel=true``."""
    try:
        await app.manager.delete(job_id, cancel=cancel)
    except JobStateError as exc:
        raise HTTPException(409, f"{exc} (or DELETE with ?cancel=true)") from None
    return Response(status_code=204)
