"""The crawl job types: a ``crawl`` parent and one ``crawl_url`` child per page.

Every page is a durable job under the crawl (a flat tree: the page that discovered a URL
is kept as ``discovered_by`` in the child's config, its distance from a start URL as
``depth``). The store enforces what must hold however many workers race:

- de-duplication: a child's ``dedupe_key`` is its normalised URL, unique per crawl;
- the page budget: no child is created once the crawl has ``max_pages`` children.

URLs that are never fetched, or refused by a policy when fetched (robots.txt, size,
content type, private address, a redirect out of scope), are recorded once per crawl with
their reason, and counted on the crawl as ``stats`` (``skipped_robots``,
``skipped_too_large``, ``skipped_budget``, ...): distinct URLs, however many pages link to
them; the page job completes with ``{"skipped": reason}``. A page answering 404 or 410 is a
broken link: its job completes with ``{"outcome": "broken_link"}``, no document, and the
crawl records the URL, its status and pages linking to it (``broken_links`` stat). Other
failures (timeouts, 5xx, connection errors) are retried and then fail the page, keeping the
reason as the child's error (``http_503: ...``, ``timeout: ...``).

Each URL is fetched once: a redirect answer is not followed inline; its target is spawned
as the page (a target already seen, queued or fetched is not created again) and the URL
recorded as an alias, as are meta-refresh pages and canonical twins (stored once, under the
canonical URL). Depths are shortest link distances, kept by the crawl's
:class:`~quaero.crawler.frontier.Frontier` whatever order pages finish in, and in the store
when a page that has a job already is found closer: a pending page takes the new depth; a
page running in another process, or fetched before at a larger depth (by a process that
stopped since), is spawned again at the new depth (``dedupe_key`` ``"<url> depth=<d>"``)
and fetched again unless saved at that depth already. So a crawl resumed after a crash,
or run by several processes, saves the same documents as one run in one process. The crawl
parent seeds pages from the start origins' sitemaps (``sitemaps``, on by default).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..documents.models import Document, NewDocument
from ..errors import JobNotFound, PermanentJobError, RetryJob
from ..jobs.context import JobContext
from ..jobs.models import NewJob
from ..jobs.registry import JobType
from ..store.base import depth_key
from .extract import canonical_from_link_header, extract
from .fetch import Fetcher, FetchError
from .frontier import Frontier
from .robots import RobotsCache, robots_directives
from .settings import CrawlSettings, has_skipped_extension, validate_crawl_config
from .sitemaps import sitemap_urls
from .urls import UrlFilter, host_of, try_normalize

if TYPE_CHECKING:
    from ..app import App

__all__ = ["CrawlRuntime", "register"]

_SPAWN_CHUNK = 2000
#: fetch errors that are a policy refusing the page: the page is skipped, not failed
_SKIP_REASONS = frozenset(
    {
        "robots",
        "too_large",
        "content_type",
        "ssrf_blocked",
        "redirect_out_of_scope",
        "redirect_robots",
    }
)
#: fetch errors raised before any request was sent
_NOT_SENT = frozenset({"robots", "ssrf_blocked", "invalid_url"})
#: statuses that make a page a broken link
_BROKEN = frozenset({404, 410})
#: pages remembered per linked URL (for broken links), per process
_REFERRERS_PER_URL = 5
#: crawls whose runtime (connection pool, robots cache) a process keeps open at once
_MAX_RUNTIMES = 32
_IDLE_CLOSE_S = 120.0


@dataclass
class CrawlRuntime:
    """What one process keeps per crawl: the settings, one HTTP pool, robots rules."""

    crawl_id: int
    settings: CrawlSettings
    fetcher: Fetcher
    robots: RobotsCache | None
    url_filter: UrlFilter
    semaphore: asyncio.Semaphore
    last_used: float = field(default_factory=time.monotonic)
    delays_set: set[str] = field(default_factory=set)
    #: linked URL -> a few pages (fetched by this process) that link to it
    referrers: dict[str, list[str]] = field(default_factory=dict)
    frontier: Frontier = field(default_factory=lambda: Frontier(0))
    #: broken links this process found: URL -> status
    broken: dict[str, int] = field(default_factory=dict)
    #: ids of this crawl's page jobs running in this process
    running: set[int] = field(default_factory=set)

    def add_referrer(self, url: str, page: str) -> None:
        refs = self.referrers.get(url)
        if refs is None:
            self.referrers[url] = [page]
        elif len(refs) < _REFERRERS_PER_URL and page not in refs:
            refs.append(page)

    async def close(self) -> None:
        if self.robots is not None:
            await self.robots.close()
        await self.fetcher.close()


class Runtimes:
    """Per-process cache of crawl runtimes, closed when idle or when the app closes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._items: dict[int, CrawlRuntime] = {}
        self._lock = asyncio.Lock()

    async def get(self, crawl_id: int) -> CrawlRuntime:
        rt = self._items.get(crawl_id)
        if rt is not None:
            rt.last_used = time.monotonic()
            return rt
        async with self._lock:
            rt = self._items.get(crawl_id)
            if rt is not None:
                return rt
            job = await self.app.store.get_job(crawl_id)
            if job is None:
                raise JobNotFound(crawl_id)
            settings = CrawlSettings.from_config(job.config)
            fetcher = Fetcher(settings.fetch_config())
            # politeness across processes; a turn outlasts any one request
            fetcher.throttle.share(self.app.store, hold=settings.request_timeout + 30)
            robots = fetcher.robots_cache() if settings.follow_robots_txt else None
            rt = CrawlRuntime(
                crawl_id,
                settings,
                fetcher,
                robots,
                settings.url_filter(),
                asyncio.Semaphore(settings.concurrency),
                frontier=Frontier(settings.max_depth),
            )
            self._items[crawl_id] = rt
            await self._evict()
            return rt

    async def _evict(self) -> None:
        now = time.monotonic()
        stale = [
            k
            for k, v in self._items.items()
            if now - v.last_used > _IDLE_CLOSE_S or len(self._items) > _MAX_RUNTIMES
        ]
        for k in stale[: max(0, len(stale))]:
            if len(self._items) <= 1:
                break
            rt = self._items.pop(k)
            await rt.close()

    async def close(self) -> None:
        items, self._items = list(self._items.values()), {}
        for rt in items:
            await rt.close()


def _runtimes(app: App) -> Runtimes:
    rts = app.state.get("crawler.runtimes")
    if rts is None:
        rts = Runtimes(app)
        app.state["crawler.runtimes"] = rts
        app.on_close(rts.close)
    assert isinstance(rts, Runtimes)
    return rts


def _child(
    url: str,
    depth: int,
    discovered_by: str | None,
    settings: CrawlSettings,
    redirected_from: list[str] | None = None,
    key: str | None = None,
) -> NewJob:
    cfg: dict[str, Any] = {"url": url, "depth": depth}
    if discovered_by is not None:
        cfg["discovered_by"] = discovered_by
    if redirected_from:
        cfg["redirected_from"] = redirected_from
    return NewJob(
        "crawl_url", cfg, name=url, dedupe_key=key or url, max_attempts=settings.max_attempts
    )


async def crawl(ctx: JobContext) -> dict[str, Any]:
    """The crawl parent: spawns the start URLs; pages spawn what they discover."""
    settings = CrawlSettings.from_config(ctx.config)
    ctx.log(
        f"Crawl of {len(settings.start_urls)} start URL(s): depth {settings.max_depth}, "
        f"at most {settings.max_pages} pages, concurrency {settings.concurrency}, "
        f"robots.txt {'on' if settings.follow_robots_txt else 'off'}"
    )
    res = await ctx.spawn(
        (_child(u, 0, None, settings) for u in settings.start_urls),
        max_children=settings.max_pages,
    )
    if res.over_budget_keys:
        await ctx.app.store.record_skips(ctx.id, dict.fromkeys(res.over_budget_keys, "budget"))
    seeded = await _seed_from_sitemaps(ctx, settings) if settings.sitemaps else 0
    return {"start_urls": len(settings.start_urls), "sitemap_urls": seeded}


async def _seed_from_sitemaps(ctx: JobContext, s: CrawlSettings) -> int:
    """Spawn the in-scope pages the start origins' sitemaps list (depth 0: they are seeds,
    as in Scrapy's SitemapSpider), within the page budget. Returns how many were new."""
    rt = await _runtimes(ctx.app).get(ctx.id)
    urls = await sitemap_urls(
        rt.fetcher, s.start_urls, robots=rt.robots, limit=s.max_pages, options=s.url_options()
    )
    skipped: dict[str, str] = {}
    seeds: list[str] = []
    for url in urls:
        skip = rt.url_filter.check(url)
        reason: str | None = skip.value if skip is not None else None
        if reason is None and s.skip_extensions and has_skipped_extension(url):
            reason = "extension"
        robots = rt.robots
        if reason is None and robots is not None and not (await robots.rules_for(url)).allowed(url):
            reason = "robots"
        if reason is not None:
            skipped[url] = reason
        else:
            seeds.append(url)
    # "sitemap" is a virtual page at depth 0 linking every seed at no distance
    created = await _spawn(ctx, rt, ctx.id, rt.frontier.expand("sitemap", [(0, seeds)]), skipped)
    if skipped:
        await ctx.app.store.record_skips(ctx.id, skipped)
    if urls:
        ctx.log(f"Sitemaps list {len(urls)} URL(s): {created} new page(s)")
    return created


async def crawl_url(ctx: JobContext) -> dict[str, Any]:
    """Fetch one page, save it as a document, spawn the links it discovers."""
    crawl_id = ctx.job.parent_id
    if crawl_id is None:
        raise PermanentJobError("a crawl_url job must be a child of a crawl job")
    url = str(ctx.config["url"])
    rt = await _runtimes(ctx.app).get(crawl_id)
    rt.running.add(ctx.id)
    try:
        return await _crawl_page(ctx, rt, crawl_id, url)
    finally:
        rt.running.discard(ctx.id)


async def _crawl_page(ctx: JobContext, rt: CrawlRuntime, crawl_id: int, url: str) -> dict[str, Any]:
    # its shortest link distance as known now (it may have dropped since the job was made)
    depth = rt.frontier.visit(url, int(ctx.config.get("depth", 0)))
    s = rt.settings
    store = ctx.app.store
    existing = await store.get_document(url=url)
    if existing is not None and crawl_id in existing.job_ids and _depth_of(existing) <= depth:
        # fetched already in this crawl (as the target of a redirect, a canonical URL, or
        # by this page's job at a larger depth, spawned again when a shorter path was found)
        return {"url": url, "skipped": "already_fetched", "document_id": existing.id}
    async with rt.semaphore:
        ctx.check_cancelled()
        if rt.robots is not None:
            rules = await rt.robots.rules_for(url)
            if not rules.allowed(url):
                await store.record_skips(crawl_id, {url: "robots"})
                return {"url": url, "skipped": "robots"}
            host = host_of(url)
            if host not in rt.delays_set:
                rt.delays_set.add(host)
                if rules.crawl_delay:
                    rt.fetcher.set_host_delay(host, rules.crawl_delay)
        try:
            page = await rt.fetcher.fetch(
                url, scope=rt.url_filter, robots=rt.robots, follow_redirects=False
            )
        except FetchError as exc:
            if exc.reason not in _NOT_SENT:
                await store.add_job_stats(crawl_id, {"requests": 1})
            message = f"{exc.reason}: {exc.message}"
            status = exc.status
            if status is not None and status in _BROKEN and exc.reason.startswith("http_"):
                return await _broken_link(ctx, rt, crawl_id, url, status, message)
            if exc.reason in _SKIP_REASONS:
                await store.record_skips(crawl_id, {url: exc.reason})
                ctx.log(f"skipped: {message}")
                return {"url": url, "skipped": exc.reason}
            if exc.retryable:
                raise RetryJob(message, delay=exc.retry_after) from None
            raise PermanentJobError(message) from None
    await store.add_job_stats(crawl_id, {"requests": 1})
    if page.redirect_to is not None:
        return await _redirect(ctx, rt, crawl_id, url, depth, page.redirect_to, page.status)
    # the fetcher normalises URLs without the crawl's query rules
    final_url = try_normalize(page.url, s.url_options()) or page.url
    extracted = extract(page.text, final_url, url_options=s.url_options())
    rt.frontier.visit(final_url, depth)
    doc_url = final_url
    #: out-links as (weight, URLs): 0 for a refresh or canonical target, 1 for links
    groups: list[tuple[int, list[str]]] = []
    #: URL -> why it is not crawled (counted once per crawl by the store)
    skipped: dict[str, str] = {}
    canonical = extracted.canonical_url or canonical_from_link_header(
        page.headers.get("link"), final_url, s.url_options()
    )
    if canonical and canonical != final_url and rt.url_filter.check(canonical) is None:
        # the page names its identity: one document under that URL, this one an alias
        await store.record_aliases(crawl_id, {final_url: canonical}, "canonical")
        twin = await store.get_document(url=canonical)
        stored = twin is not None and crawl_id in twin.job_ids
        doc_url = "" if stored else canonical  # stored already: only its links matter
        groups.append((0, [canonical]))
    directives = robots_directives(page.headers.get("x-robots-tag"), s.user_agent)
    noindex = extracted.noindex or "noindex" in directives or "none" in directives
    nofollow = extracted.nofollow or "nofollow" in directives or "none" in directives
    refresh = extracted.refresh
    refresh_only = False
    if refresh is not None and refresh[1] != final_url:
        # a meta refresh is a redirect: its target is crawled at this page's depth
        target = refresh[1]
        refresh_only = refresh[0] == 0 or extracted.word_count == 0
        skip = rt.url_filter.check(target)
        if skip is not None:
            skipped[target] = skip.value
        else:
            groups.append((0, [target]))
        if refresh_only:
            await store.record_aliases(crawl_id, {final_url: target}, "refresh")
    if not nofollow and not refresh_only:
        # links are kept even beyond the depth limit: a shorter path found later may
        # bring this page within it (see Frontier)
        followable: list[str] = []
        seen: set[str] = set()
        for link in extracted.links:
            target = link.url
            if target in seen:
                continue
            seen.add(target)
            skip = rt.url_filter.check(target)
            reason: str | None = skip.value if skip is not None else None
            if reason is None and s.skip_extensions and has_skipped_extension(target):
                reason = "extension"
            if reason is None and rt.robots is not None:
                rules = rt.robots.cached(target) or await rt.robots.rules_for(target)
                if not rules.allowed(target):
                    reason = "robots"
            if reason is not None:
                if depth < s.max_depth:
                    skipped[target] = reason
                continue
            rt.add_referrer(target, final_url)
            followable.append(target)
            if target in rt.broken:  # found broken before this page: add it as a referrer
                await store.record_broken_link(crawl_id, target, rt.broken[target], [final_url])
        groups.append((1, followable))
    spawns = rt.frontier.expand(final_url, groups)
    links_followed = await _spawn(ctx, rt, crawl_id, spawns, skipped)
    if noindex or refresh_only or not doc_url:
        why = "refresh" if refresh_only else "noindex" if noindex else "canonical"
        if skipped:
            await store.record_skips(crawl_id, skipped)
        if why == "noindex":
            await store.record_skips(crawl_id, {final_url: "noindex"})
        return {"url": final_url, "skipped": why, "links_followed": links_followed}
    # the depth may have dropped while this page was fetched; no await from here to the
    # save's submission, so a later correction (patch_document_metadata) lands after it
    depth = rt.frontier.depth_of(final_url) or 0
    doc = NewDocument(
        url=doc_url,
        title=extracted.title,
        markdown=extracted.markdown,
        status_code=page.status,
        content_type=page.content_type,
        description=extracted.description,
        language=extracted.language or "",
        canonical_url=extracted.canonical_url or "",
        word_count=extracted.word_count,
        links_found=len(extracted.links),
        links_followed=links_followed,
        metadata={
            "depth": depth,
            "discovered_by": ctx.config.get("discovered_by"),
            "redirected_from": list(ctx.config.get("redirected_from", [])),
            "requested_url": url,
            "fetched_url": final_url,
        },
    )
    saved, _new = await store.save_document(doc, ctx.id, crawl_id)
    if skipped:
        await store.record_skips(crawl_id, skipped)
    return {
        "url": final_url,
        "status": page.status,
        "bytes": page.size,
        "title": extracted.title,
        "document_id": saved.id,
        "links_found": len(extracted.links),
        "links_followed": links_followed,
        "elapsed_ms": round(page.elapsed * 1000, 1),
    }


async def _spawn(
    ctx: JobContext,
    rt: CrawlRuntime,
    crawl_id: int,
    spawns: dict[str, tuple[int, str]],
    skipped: dict[str, str],
    chains: dict[str, list[str]] | None = None,
) -> int:
    """Create the pages ``spawns`` names (``{url: (depth, found_on)}``); one already
    queued or fetched is not created again (its depth comes from the frontier). Adds
    URLs over the page budget to ``skipped``; returns how many pages were created."""
    s = rt.settings
    items = list(spawns.items())
    created = 0
    #: URLs that had a page already: their new, smaller depth must outlive this process
    known: dict[str, int] = {}
    for i in range(0, len(items), _SPAWN_CHUNK):
        chunk = items[i : i + _SPAWN_CHUNK]
        res = await ctx.spawn(
            (_child(u, d, by, s, (chains or {}).get(u)) for u, (d, by) in chunk),
            parent_id=crawl_id,
            max_children=s.max_pages,
        )
        created += len(res.created)
        skipped.update(dict.fromkeys(res.over_budget_keys, "budget"))
        if res.duplicates:
            taken = {j.dedupe_key for j in res.created}
            taken.update(res.over_budget_keys)
            # a page fetched by this process was re-expanded above from its links in memory
            known.update(
                (u, d) for u, (d, _) in chunk if u not in taken and not rt.frontier.fetched(u)
            )
    if known:
        # pending pages take the depth in place; one running elsewhere or done at a larger
        # depth is spawned again at this one (it fetches again unless saved at it already)
        again = await ctx.app.store.lower_page_depths(crawl_id, known, rt.running)
        if again:
            res = await ctx.spawn(
                (
                    _child(
                        u, known[u], spawns[u][1], s, (chains or {}).get(u), depth_key(u, known[u])
                    )
                    for u in again
                ),
                parent_id=crawl_id,
                max_children=s.max_pages,
            )
            # the shorter path is not followed: say so (the page itself was counted)
            by_key = {depth_key(u, known[u]): u for u in again}
            skipped.update((by_key[k], "budget") for k in res.over_budget_keys if k in by_key)
    for u, (d, _) in items:
        if rt.frontier.fetched(u):  # a fetched page got closer: correct its document
            await ctx.app.store.patch_document_metadata(u, {"depth": d})
    return created


def _depth_of(doc: Document) -> int:
    """The depth a crawl saved ``doc`` at (its links were followed from that depth)."""
    depth = doc.metadata.get("depth", 0)
    return depth if isinstance(depth, int) else 0


#: hops a chain of redirects may take before the page fails with ``too_many_redirects``
_MAX_REDIRECTS = 10


async def _redirect(
    ctx: JobContext,
    rt: CrawlRuntime,
    crawl_id: int,
    url: str,
    depth: int,
    location: str,
    status: int,
) -> dict[str, Any]:
    """A redirect answer: its target is crawled once, as its own page at this depth (a
    target already seen, queued or fetched is not fetched again), and this URL is recorded
    as an alias of it."""
    s = rt.settings
    store = ctx.app.store
    target = try_normalize(location, s.url_options()) or location
    chain = [*ctx.config.get("redirected_from", []), url]
    if target in chain:
        raise PermanentJobError(f"redirect_loop: {url} redirects back to {target}")
    if len(chain) > _MAX_REDIRECTS:
        raise PermanentJobError(f"too_many_redirects: more than {_MAX_REDIRECTS} from {chain[0]}")
    reason: str | None = None
    if rt.url_filter.check(target) is not None:
        reason = "redirect_out_of_scope"
    elif rt.robots is not None and not (await rt.robots.rules_for(target)).allowed(target):
        reason = "redirect_robots"
    if reason is not None:
        await store.record_skips(crawl_id, {url: reason})
        ctx.log(f"skipped: {url} redirects to {target} ({reason})")
        return {"url": url, "skipped": reason, "redirect_to": target}
    skipped: dict[str, str] = {}
    spawns = rt.frontier.expand(url, [(0, [target])])
    await _spawn(ctx, rt, crawl_id, spawns, skipped, {target: chain})
    if skipped:
        await store.record_skips(crawl_id, skipped)
    await store.record_aliases(crawl_id, {url: target}, "redirect")
    return {"url": url, "outcome": "redirect", "status": status, "redirect_to": target}


async def _broken_link(
    ctx: JobContext, rt: CrawlRuntime, crawl_id: int, url: str, status: int, message: str
) -> dict[str, Any]:
    """A 404/410 page: no document; the crawl lists it with pages that link to it."""
    referrers: list[str] = []
    discovered_by = ctx.config.get("discovered_by")
    if isinstance(discovered_by, str):
        referrers.append(discovered_by)
    referrers.extend(rt.referrers.get(url, ()))
    rt.broken[url] = status
    await ctx.app.store.record_broken_link(crawl_id, url, status, referrers)
    ctx.log(f"broken link: {message}", level="warning")
    return {"url": url, "outcome": "broken_link", "status": status}


def register(app: App) -> None:
    """Register ``crawl`` and ``crawl_url`` on an app."""
    app.register(
        JobType(
            "crawl",
            crawl,
            validate_crawl_config,
            # attempts as any job (worker.max_attempts): the handler only spawns pages
            # (de-duplicated by key), so running it again after its worker was lost is
            # safe; with one attempt that loss failed the crawl and cancelled every page
            description="crawl a website into searchable markdown documents",
        )
    )
    app.register(
        JobType("crawl_url", crawl_url, _validate_child, description="fetch one page of a crawl")
    )


def _validate_child(cfg: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(cfg.get("url"), str):
        raise ValueError("a crawl_url job needs a url (it is created by a crawl)")
    return cfg
