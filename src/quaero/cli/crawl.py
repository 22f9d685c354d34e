"""``quaero crawl``, ``quaero search`` and ``quaero docs``: the crawler from the shell.

``quaero crawl URL...`` runs a crawl (``quaero crawl run URL...``);
``quaero crawl skipped ID``, ``quaero crawl broken-links ID`` and ``quaero crawl aliases ID``
list what a crawl did not store and why."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from ..documents.models import MARK_END, MARK_START
from ..jobs.models import Job, JobStatus
from ..store.base import ChildFilter
from .live import watch_job
from .main import JOB_ID, NOT_FOUND, OFFSET, Ctx, cli, fail, make_app, print_json, run_async
from .output import failure_reasons, reasons_text

__all__ = [
    "crawl",
    "crawl_aliases",
    "crawl_broken_links",
    "crawl_run",
    "crawl_skipped",
    "docs",
    "search",
]


def _pairs(values: tuple[str, ...], sep: str, what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, found, value = v.partition(sep)
        if not found or not key.strip():
            fail(f"{what} {v!r} must look like 'name{sep}value'")
        out[key.strip()] = value.strip()
    return out


def summary(job: Job, seconds: float, done_before: int = 0) -> dict[str, Any]:
    """The crawl's final figures; ``pages_per_second`` counts the pages this command saw
    finish (``done_before``: those finished when it started, as on a --resume)."""
    c = job.children
    skipped = {
        k.removeprefix("skipped_"): v
        for k, v in sorted(job.stats.items())
        if k.startswith("skipped_")
    }
    return {
        "job_id": job.id,
        "status": job.status.value,
        "documents": job.result_count,
        "pages": c.total,
        "completed": c.completed,
        "failed": c.failed,
        "cancelled": c.cancelled,
        "skipped": sum(skipped.values()),
        "skipped_by_reason": skipped,
        "broken_links": job.stats.get("broken_links", 0),
        "aliases": job.stats.get("aliases", 0),
        "requests": job.stats.get("requests", 0),
        "redirects": job.stats.get("aliases_redirect", 0),
        "seconds": round(seconds, 3),
        "pages_per_second": (
            round(max(0, c.completed + c.failed - done_before) / seconds, 1) if seconds > 0 else 0.0
        ),
    }


class _CrawlGroup(click.Group):
    """``quaero crawl`` runs a crawl unless its first argument names a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_CrawlGroup)
def crawl() -> None:
    """Crawl websites into searchable documents (`quaero crawl URL...` = `crawl run`)."""


@crawl.command("run")
@click.argument("urls", nargs=-1)
@click.option("--depth", "max_depth", type=click.IntRange(0, 1000), default=3, show_default=True)
@click.option(
    "--max-pages",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Page budget of the whole crawl.",
)
@click.option("--include", multiple=True, help="Regex a URL must match (repeatable).")
@click.option("--exclude", multiple=True, help="Regex that excludes a URL (repeatable).")
@click.option(
    "--allowed-domain", multiple=True, help="Widen the scope beyond the start hosts (repeatable)."
)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=8, show_default=True)
@click.option(
    "--delay",
    type=click.FloatRange(0),
    default=0.0,
    help="Seconds from the end of one request to a host to the start of the next, "
    "across every worker process on the store (one request to it at a time).",
)
@click.option(
    "--timeout", "request_timeout", type=click.FloatRange(0.1), default=30.0, show_default=True
)
@click.option("--max-retries", type=click.IntRange(0, 20), default=2, show_default=True)
@click.option("--user-agent")
@click.option(
    "--header", multiple=True, help="'Name: value' sent with every request (never logged)."
)
@click.option(
    "--cookie", multiple=True, help="'name=value' sent with every request (never logged)."
)
@click.option("--no-robots", is_flag=True, help="Ignore robots.txt.")
@click.option(
    "--no-sitemaps",
    is_flag=True,
    help="Do not seed from /sitemap.xml and robots.txt Sitemap: lines.",
)
@click.option("--allow-private-networks", is_flag=True, help="Allow loopback/private addresses.")
@click.option("--name", default="", help="Job name (default: the first URL).")
@click.option(
    "--resume",
    "resume_id",
    type=JOB_ID,
    help="Finish crawl JOB_ID: attach to it if a killed process left it running; if it"
    " was cancelled (Ctrl-C), retry its cancelled pages in place first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a final summary as JSON.")
@click.pass_obj
def crawl_run(
    ctx: Ctx,
    urls: tuple[str, ...],
    max_depth: int,
    max_pages: int,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    allowed_domain: tuple[str, ...],
    concurrency: int,
    delay: float,
    request_timeout: float,
    max_retries: int,
    user_agent: str | None,
    header: tuple[str, ...],
    cookie: tuple[str, ...],
    no_robots: bool,
    no_sitemaps: bool,
    allow_private_networks: bool,
    name: str,
    resume_id: int | None,
    as_json: bool,
) -> None:
    """Crawl URLS into searchable markdown documents, with a live progress bar.

    Ctrl-C cancels the crawl (documents saved so far are kept) and exits non-zero."""
    if not urls and resume_id is None:
        fail("give at least one start URL (or --resume JOB_ID)")
    config: dict[str, Any] = {
        "start_urls": list(urls),
        "max_depth": max_depth,
        "max_pages": max_pages,
        "include_patterns": list(include),
        "exclude_patterns": list(exclude),
        "allowed_domains": list(allowed_domain),
        "concurrency": concurrency,
        "delay": delay,
        "request_timeout": request_timeout,
        "max_retries": max_retries,
        "follow_robots_txt": not no_robots,
        "sitemaps": not no_sitemaps,
        "allow_private_networks": allow_private_networks,
        "headers": _pairs(header, ":", "--header"),
        "cookies": _pairs(cookie, "=", "--cookie"),
    }
    if user_agent:
        config["user_agent"] = user_agent

    async def go() -> int:
        app = make_app(ctx, **{"worker.concurrency": concurrency})
        async with app:
            if resume_id is not None:
                found = await app.store.get_job(resume_id)
                if found is None or found.job_type != "crawl":
                    fail(f"job {resume_id} is not a crawl")
                    return 2
                job = found
                done_before = job.children.completed + job.children.failed
                if job.status in (JobStatus.CANCELLED, JobStatus.FAILED):
                    await _reopen(app, job, quiet=as_json)
            else:
                job = await app.submit("crawl", config, name or urls[0])
                done_before = 0
            started = time.monotonic()
            worker = app.worker(concurrency=concurrency)
            await worker.start()
            loop = asyncio.get_running_loop()
            interrupted = asyncio.Event()
            loop.add_signal_handler(signal.SIGINT, interrupted.set)
            loop.add_signal_handler(signal.SIGTERM, interrupted.set)
            if not as_json:
                click.echo(f"crawl job {job.id}: {', '.join(urls) or job.name}", err=True)
            watcher = asyncio.create_task(watch_job(app, job.id, show=not as_json, documents=True))
            stopper = asyncio.create_task(interrupted.wait())
            try:
                await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not watcher.done():
                    watcher.cancel()
                    await app.manager.cancel(job.id)
                else:
                    stopper.cancel()
                    # the watch ends only when the crawl does: its failure is the command's,
                    # never a summary of a crawl still running
                    watcher.result()
            finally:
                await worker.stop()
            final = await app.store.get_job(job.id)
            assert final is not None
            s = summary(final, time.monotonic() - started, done_before)
            reasons: Counter[str] = (
                await failure_reasons(app.store, final.id) if final.children.failed else Counter()
            )
            s["failed_by_reason"] = dict(reasons)
            if as_json:
                print_json(s)
            else:
                skips = ", ".join(f"{k} {v}" for k, v in s["skipped_by_reason"].items()) or "none"
                click.echo(
                    f"crawl {final.id} {final.status.value}: {s['documents']} documents, "
                    f"{s['requests']} requests, {s['redirects']} redirects, "
                    f"{s['broken_links']} broken links, "
                    f"{s['completed']} completed, {s['failed']} failed, {s['skipped']} skipped "
                    f"({skips}) in {s['seconds']:.1f}s ({s['pages_per_second']} pages/s)"
                )
                if reasons:
                    click.echo(f"failed: {reasons_text(reasons)}")
                if "ssrf_blocked" in reasons:
                    click.echo(
                        "some pages are on private or local addresses, which a crawl refuses"
                        " by default: pass --allow-private-networks to crawl them",
                        err=True,
                    )
                if s["broken_links"]:
                    page = await app.store.list_broken_links(final.id, limit=20)
                    click.echo(f"{page.total} broken link(s):")
                    for item in page.items:
                        refs = ", ".join(item["referrers"][:3]) or "a start URL"
                        click.echo(f"  {item['status']} {item['url']}  (linked from {refs})")
                    if page.total > len(page.items):
                        click.echo(f"  ... all: quaero crawl broken-links {final.id}")
                if final.status is JobStatus.CANCELLED:
                    click.echo(
                        "interrupted: crawl cancelled; documents saved so far are kept"
                        f" (to finish it: quaero crawl --resume {final.id})",
                        err=True,
                    )
            if interrupted.is_set():
                return 130
            return 0 if final.status is JobStatus.COMPLETED else 1

    raise SystemExit(run_async(go))


@crawl.command("skipped")
@click.argument("job_id", type=JOB_ID)
@click.option("--reason", help="Only this reason (robots, out_of_scope, budget, too_large, ...).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def crawl_skipped(
    ctx: Ctx, job_id: int, reason: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """List the URLs crawl JOB_ID did not crawl, with the reason, ordered by URL."""

    async def go() -> None:
        async with make_app(ctx) as app:
            await _crawl_or_fail(app, job_id)
            page = await app.store.list_skips(job_id, reason or None, limit, offset)
        if as_json:
            print_json({"items": page.items, "total": page.total})
            return
        click.echo(f"{page.total} skipped URL(s)")
        for item in page.items:
            click.echo(f"{item['reason']:<22} {item['url']}")

    run_async(go)


@crawl.command("broken-links")
@click.argument("job_id", type=JOB_ID)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def crawl_broken_links(ctx: Ctx, job_id: int, limit: int, offset: int, as_json: bool) -> None:
    """List the pages of crawl JOB_ID that answered 404/410 and pages linking to them."""

    async def go() -> None:
        async with make_app(ctx) as app:
            await _crawl_or_fail(app, job_id)
            page = await app.store.list_broken_links(job_id, limit, offset)
        if as_json:
            print_json({"items": page.items, "total": page.total})
            return
        click.echo(f"{page.total} broken link(s)")
        for item in page.items:
            click.echo(f"{item['status']} {item['url']}")
            for ref in item["referrers"]:
                click.echo(f"    linked from {ref}")

    run_async(go)


@crawl.command("aliases")
@click.argument("job_id", type=JOB_ID)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def crawl_aliases(ctx: Ctx, job_id: int, limit: int, offset: int, as_json: bool) -> None:
    """List the other URLs crawl JOB_ID found for its documents (redirects, canonical
    twins, meta refreshes), ordered by URL."""

    async def go() -> None:
        async with make_app(ctx) as app:
            await _crawl_or_fail(app, job_id)
            page = await app.store.list_aliases(job_id, limit, offset)
        if as_json:
            print_json({"items": page.items, "total": page.total})
            return
        click.echo(f"{page.total} alias(es)")
        for item in page.items:
            click.echo(f"{item['reason']:<10} {item['url']} -> {item['target']}")

    run_async(go)


async def _reopen(app: Any, job: Job, quiet: bool) -> None:
    """Resume a crawl that ended cancelled (Ctrl-C, a cancel) or failed before its own
    handler finished: its cancelled pages are retried in place (same jobs; the crawl
    reopens and waits for them), and the crawl's handler runs again if it had not
    finished (it seeds again; a page it has already is not spawned twice). Failed pages
    stay failed: they were fetched (`quaero jobs retry ID --failed-children` retries them)."""
    if job.result is None:
        await app.retry(job.id)
    res = await app.manager.bulk(
        job.id, "retry", ChildFilter(statuses=(JobStatus.CANCELLED,), subtree=True)
    )
    if not quiet and (job.result is None or res.changed):
        own = "the crawl itself and " if job.result is None else ""
        click.echo(
            f"resuming crawl {job.id} ({job.status.value}): retrying {own}"
            f"{res.changed} cancelled page(s) in place",
            err=True,
        )


async def _crawl_or_fail(app: Any, job_id: int) -> None:
    job = await app.store.get_job(job_id)
    if job is None or job.job_type != "crawl":
        fail(f"job {job_id} is not a crawl", code=NOT_FOUND)


@cli.command()
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--crawl", "crawl_id", type=JOB_ID, help="Only documents of this crawl.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def search(
    ctx: Ctx, query: str, limit: int, offset: int, crawl_id: int | None, as_json: bool
) -> None:
    """Full-text search of documents, best matches first (titles weigh more)."""

    async def go() -> None:
        async with make_app(ctx) as app:
            page = await app.store.search_documents(query, limit, offset, crawl_id)
        if as_json:
            print_json({"items": [h.to_dict() for h in page.items], "total": page.total})
            return
        # user text (query, titles, URLs, page text) is never read as rich markup: a
        # title or query with "[/]" in it printed wrong or ended in a MarkupError
        console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
        console.print(Text.assemble(f"{page.total} result(s) for ", (query, "bold")))
        for i, hit in enumerate(page.items, offset + 1):
            line = Text.assemble(f"{i:>3}. ", (hit.title or "(untitled)", "bold"), f"  {hit.url}")
            console.print(line)
            console.print(Text("     ").append_text(marked_text(hit.snippet)))
        shown_to = offset + len(page.items)
        if page.total > shown_to:  # on stderr: stdout stays the results alone
            click.echo(
                f"note: results {offset + 1}-{shown_to} of {page.total}"
                f" (--offset {shown_to} for the next, --limit N)",
                err=True,
            )

    run_async(go)


def marked_text(snippet: str) -> Text:
    """A search snippet on one line, its matched words (between MARK_START and MARK_END)
    in bold yellow; everything else literal."""
    first, *marked = " ".join(snippet.split()).split(MARK_START)
    out = Text(first)
    for part in marked:
        word, _, rest = part.partition(MARK_END)
        out.append(word, "bold yellow")
        out.append(rest)
    return out


@cli.group()
def docs() -> None:
    """Documents saved by crawls."""


@docs.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_show(ctx: Ctx, ref: str, as_json: bool) -> None:
    """Print a document's markdown (REF is a document id or a URL)."""

    async def go() -> int:
        async with make_app(ctx) as app:
            if ref.isdigit():
                doc = await app.store.get_document(document_id=int(ref))
            else:
                doc = await app.store.get_document(url=ref)
                if doc is None:
                    from ..crawler.urls import try_normalize

                    norm = try_normalize(ref)
                    doc = await app.store.get_document(url=norm) if norm else None
        if doc is None:
            fail(f"no document {ref!r}", code=NOT_FOUND)
            return 1
        if as_json:
            print_json(doc.to_dict())
        else:
            click.echo(f"# {doc.title}\n<{doc.url}>\n\n{doc.markdown}")
        return 0

    raise SystemExit(run_async(go))


@docs.command("ls")
@click.option("--crawl", "crawl_id", type=JOB_ID)
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--offset", type=OFFSET, default=0)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs_ls(ctx: Ctx, crawl_id: int | None, limit: int, offset: int, as_json: bool) -> None:
    """List documents, newest first."""

    async def go() -> None:
        async with make_app(ctx) as app:
            page = await app.store.list_documents(limit, offset, crawl_id)
        if as_json:
            items = [d.to_dict(with_markdown=False) for d in page.items]
            print_json({"items": items, "total": page.total})
            return
        click.echo(f"{page.total} document(s)")
        for d in page.items:
            click.echo(f"{d.id:>6}  {d.word_count:>6} words  {d.url}  {d.title}")

    run_async(go)


@docs.command("rm")
@click.option("--crawl", "crawl_id", type=JOB_ID, required=True, help="The crawl's job id.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def docs_rm(ctx: Ctx, crawl_id: int, yes: bool) -> None:
    """Delete the documents a crawl saved (its job may already be pruned).

    A document that another crawl also saved is kept for that crawl. Documents are never
    removed by job retention: this is how to delete them.
    """
    if not yes and not click.confirm(f"Delete the documents of crawl {crawl_id}?"):
        raise SystemExit(1)

    async def go() -> None:
        async with make_app(ctx) as app:
            deleted, unlinked = await app.store.delete_crawl_documents(crawl_id)
        click.echo(
            f"deleted {deleted} document(s) of crawl {crawl_id}"
            f"; kept {unlinked} also saved by other crawls"
        )

    run_async(go)
