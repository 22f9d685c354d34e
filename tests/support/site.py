"""A generated website served on 127.0.0.1 for crawler tests, with its ground truth.

``TestSite`` is an aiohttp web server on a free port::

    async with TestSite() as site:          # or: with SiteThread() as site: (sync tests)
        url = site.url("/")
        ...
        expected = site.expected(max_depth=3)
        assert saved_urls == expected.saved
        assert max(site.hits.values()) == 1   # nothing fetched twice

Content (``n_pages`` = 300 by default):

* ``/`` and ``/p/{i}.html`` (``/p/deep/{i}.html`` when ``i % 5 == 0``): a
  ternary tree (``i`` links to ``3i+1..3i+3``) plus a cross link
  ``(37i+11) % n`` and a link to the parent; hrefs are relative
  (``../3.html``), root-relative, absolute, with ``./`` or ``#fragment``;
* ``/robots.txt`` disallowing ``/private/`` (linked from ``/`` and ``/p/2.html``);
* redirects: ``/redirect/301``, ``/redirect/302``, a chain
  ``/redirect/chain/1 → 2 → 3 → /r/chain-end.html`` (301, 302, 307), one to
  another host name (``http://localhost:{port}/p/1.html``, out of scope) and a
  loop ``/redirect/loop-a ↔ /redirect/loop-b``;
* ``/missing.html`` (404), ``/slow.html`` (sleeps ``slow_delay``),
  ``/huge.html`` (``huge_size`` bytes with Content-Length) and
  ``/huge-stream.html`` (same, chunked), ``/files/report.pdf``,
  ``/files/image.png``, ``/files/data.csv``;
* ``/latin1.html``: ISO-8859-1 bytes, charset only in ``<meta>``;
* ``/dup.html`` linked as ``?a=1&b=2``, ``?b=2&a=1``, ``?a=1&b=2&utm_source=news``
  and ``?a=1&b=2#frag``;
* ``/flaky.html``: HTTP 500 for the first ``flaky_failures`` requests, then 200;
* ``/based/index.html``: ``<base href="/p/">`` with relative links;
* malformed / non-HTTP links on ``/``: ``http://[::1``, ``javascript:void(0)``,
  ``mailto:``, ``tel:``, ``data:``, ``ftp:``, ``..//..``, ``""``, ``#top``;
  and external links (``https://example.com/``, ``http://localhost:{port}/p/3.html``).

``site.hits`` counts requests per path+query, ``site.hosts`` per Host header,
``site.peers`` per client connection (to check keep-alive reuse).
"""

from __future__ import annotations

import asyncio
import posixpath
import threading
from collections import Counter, deque
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from quaero.crawler.urls import NormalizeOptions, normalize
from tests.support.site_data import (
    BINARIES,
    DUP_QUERIES,
    HOME_SPECIALS,
    LEAF_PAGES,
    MALFORMED_HREFS,
    REDIRECTS,
    WORDS,
    ExpectedCrawl,
    page_path,
)

__all__ = ["ExpectedCrawl", "SiteThread", "TestSite"]


class TestSite:
    """The generated site; an async context manager that serves it on 127.0.0.1."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        n_pages: int = 300,
        *,
        slow_delay: float = 0.3,
        huge_size: int = 11 * 1024 * 1024,
        flaky_failures: int = 1,
        crawl_delay: float | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.n_pages = n_pages
        self.slow_delay = slow_delay
        self.huge_size = huge_size
        self.flaky_failures = flaky_failures
        self.crawl_delay = crawl_delay
        self.host = host
        self.port = 0
        self.hits: Counter[str] = Counter()
        self.hosts: Counter[str] = Counter()
        self.request_log: list[tuple[str, str]] = []
        #: requests per client (address, port): one entry per TCP connection used
        self.peers: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._huge: bytes | None = None

    # ----------------------------------------------------------------- serving

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this site."""
        return self.base_url + path

    async def start(self) -> None:
        """Start serving on a free port."""
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        tcp = web.TCPSite(self._runner, self.host, 0)
        await tcp.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> TestSite:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def reset_counters(self) -> None:
        """Forget hit counts (and the flaky page's failures)."""
        self.hits.clear()
        self.hosts.clear()
        self.request_log.clear()
        self.peers.clear()

    # ------------------------------------------------------------------ content

    def links_of(self, path: str) -> list[tuple[str, str | None]]:
        """``(href, absolute target or None)`` for every link on the HTML page ``path``."""
        port = self.port
        base = self.base_url
        # every generated page has the header link home first
        links: list[tuple[str, str | None]] = [("/", base + "/")]
        if path == "/" or path.startswith("/p/"):
            i = 0 if path == "/" else int(path.rsplit("/", 1)[1].split(".")[0])
            targets = [c for c in (3 * i + 1, 3 * i + 2, 3 * i + 3) if c < self.n_pages]
            cross = (37 * i + 11) % self.n_pages
            if cross != i:
                targets.append(cross)
            if i:
                targets.append((i - 1) // 3)
            folder = posixpath.dirname(path) if path != "/" else "/"
            for k, t in enumerate(targets):
                tpath = page_path(t)
                style = (i + k) % 6
                if style == 0:
                    href = base + tpath
                elif style == 1:
                    href = tpath
                elif style == 2:
                    href = tpath + "#section-2"
                elif style == 3 and tpath != "/":
                    rel = posixpath.relpath(tpath, folder)
                    href = rel if rel.startswith(".") else "./" + rel
                else:
                    href = posixpath.relpath(tpath, folder) if tpath != "/" else "/"
                links.append((href, base + tpath))
            if i == 2:
                links.append(("/private/a.html", base + "/private/a.html"))
        if path == "/":
            for special in HOME_SPECIALS:
                links.append((special, base + special))
            for q in DUP_QUERIES:
                links.append(("/dup.html" + q, base + "/dup.html" + q))
            for href in MALFORMED_HREFS:
                target = None
                if href in ("", "#top", "..//.."):
                    target = base + "/"
                links.append((href, target))
            links.append(("https://example.com/", "https://example.com/"))
            other = f"http://localhost:{port}/p/3.html"
            links.append((other, other))
        elif path == "/private/a.html":
            links.append(("b.html", base + "/private/b.html"))
        elif path == "/based/index.html":
            links += [("4.html", base + "/p/4.html"), ("deep/20.html", base + "/p/deep/20.html")]
        return links

    def _page(self, path: str) -> str:
        title = "Home" if path == "/" else f"Page {path}"
        items = "".join(
            f'<li><a href="{h}">link {k}</a></li>'
            for k, (h, _) in enumerate(self.links_of(path)[1:])
        )
        seed = sum(map(ord, path))
        words = " ".join(WORDS[(seed + j * 7) % len(WORDS)] for j in range(60))
        base = '<base href="/p/">' if path == "/based/index.html" else ""
        return (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{base}'
            f'<title>{title}</title><meta name="description" content="Test page {path}"></head>'
            f'<body><header><a href="/">Site</a></header>'
            f"<nav><ul><li>nav</li></ul></nav><main><h1>{title}</h1><p>{words}</p>"
            f"<h2>Links</h2><ul>{items}</ul></main><footer>footer text</footer></body></html>"
        )

    def _is_html_page(self, path: str) -> bool:
        if path == "/" or path in LEAF_PAGES or path in ("/private/a.html", "/based/index.html"):
            return True
        if path.startswith("/p/"):
            try:
                i = int(path.rsplit("/", 1)[1].split(".")[0])
            except ValueError:
                return False
            return 0 < i < self.n_pages and page_path(i) == path
        return False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[request.path_qs] += 1
        self.hosts[request.host] += 1
        self.request_log.append((request.host, request.path_qs))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers[str(peer)] += 1
        if path == "/robots.txt":
            body = "User-agent: *\nDisallow: /private/\n"
            if self.crawl_delay is not None:
                body += f"Crawl-delay: {self.crawl_delay}\n"
            return web.Response(text=body, content_type="text/plain")
        if path in REDIRECTS:
            status, location = REDIRECTS[path]
            raise _redirect(status, location.format(port=self.port))
        if path in BINARIES:
            ctype, data = BINARIES[path]
            return web.Response(body=data, content_type=ctype)
        if path == "/slow.html":
            await asyncio.sleep(self.slow_delay)
        elif path == "/flaky.html" and self.hits[request.path_qs] <= self.flaky_failures:
            return web.Response(status=500, text="try again")
        elif path == "/latin1.html":
            html = (
                '<html><head><meta charset="iso-8859-1"><title>Café crème</title></head>'
                "<body><main><h1>Café crème</h1><p>Ça coûte 5 € - déjà vu, naïve façade.</p>"
                '<a href="/">home</a></main></body></html>'
            )
            return web.Response(
                body=html.replace("€", "EUR").encode("iso-8859-1"),
                headers={"Content-Type": "text/html"},
            )
        elif path in ("/huge.html", "/huge-stream.html"):
            return await self._huge_page(request, chunked=path == "/huge-stream.html")
        if not self._is_html_page(path):
            return web.Response(status=404, text="not found")
        return web.Response(text=self._page(path), content_type="text/html")

    async def _huge_page(self, request: web.Request, *, chunked: bool) -> web.StreamResponse:
        if self._huge is None:
            line = b"<p>" + b"x" * 1020 + b"</p>\n"
            self._huge = b"<html><body>" + line * (self.huge_size // len(line) + 1)
        if not chunked:
            return web.Response(body=self._huge, content_type="text/html")
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for i in range(0, len(self._huge), 65536):
                await resp.write(self._huge[i : i + 65536])
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client gave up, as it should
        return resp

    # ------------------------------------------------------------- ground truth

    def expected(
        self,
        start: str = "/",
        *,
        max_depth: int | None = None,
        respect_robots: bool = True,
        url_options: NormalizeOptions | None = None,
        max_redirects: int = 10,
    ) -> ExpectedCrawl:
        """BFS over the generated graph with the rules a correct crawler follows.

        Same-host scope (``127.0.0.1`` only), robots.txt (``/private/``),
        depth limit (a page at depth ``d`` has its links followed when
        ``d < max_depth``), de-duplication on normalised URLs (with
        ``url_options``), a redirect's target crawled as its own page (once, at the
        redirect's depth), and ``failed`` keyed by the URL that answered
        (``redirect_loop`` for the hop that redirects back). Assumes the crawler
        retries the flaky page and waits for the slow one.
        """
        base = self.base_url
        in_scope: Callable[[str], bool] = lambda u: u.startswith(base + "/")  # noqa: E731
        start_url = normalize(start if "://" in start else base + start, url_options)
        seen = {start_url}
        # (url, depth, the URLs that redirected to it): a redirect's target is its own
        # page at the same depth, taken next
        queue: deque[tuple[str, int, tuple[str, ...]]] = deque([(start_url, 0, ())])
        saved: dict[str, int] = {}
        requested: set[str] = set()
        robots_blocked: set[str] = set()
        failed: dict[str, str] = {}
        while queue:
            url, depth, chain = queue.popleft()
            path = url[len(base) :].split("?", 1)[0]
            if respect_robots and path.startswith("/private/"):
                robots_blocked.add(url)
                continue
            requested.add(url)
            if path in REDIRECTS:
                location = REDIRECTS[path][1].format(port=self.port)
                target = normalize(location if "://" in location else base + location, url_options)
                if target in chain or target == url:
                    failed[url] = "redirect_loop"
                elif len(chain) >= max_redirects:
                    failed[url] = "too_many_redirects"
                elif not in_scope(target):
                    failed[url] = "redirect_out_of_scope"
                elif respect_robots and target[len(base) :].startswith("/private/"):
                    failed[url] = "redirect_robots"
                elif target not in seen:
                    seen.add(target)
                    queue.appendleft((target, depth, (*chain, url)))
                continue
            reason = self._outcome(path)
            if reason is not None:
                failed[url] = reason
                continue
            saved.setdefault(url, depth)
            if max_depth is not None and depth >= max_depth:
                continue
            for _, target in self.links_of(path):
                if target is None:
                    continue
                link = normalize(target, url_options)
                if link in seen or not in_scope(link):
                    continue
                seen.add(link)
                queue.append((link, depth + 1, ()))
        return ExpectedCrawl(
            saved=frozenset(saved),
            depths=saved,
            requested=frozenset(requested),
            robots_blocked=frozenset(robots_blocked),
            failed=failed,
        )

    def _outcome(self, path: str) -> str | None:
        """Why a (non-redirect) path is not a document, or None."""
        if path == "/missing.html" or not (
            self._is_html_page(path)
            or path in ("/huge.html", "/huge-stream.html")
            or path in BINARIES
        ):
            return "http_404"
        if path in ("/huge.html", "/huge-stream.html"):
            return "too_large"
        if path in BINARIES:
            return "content_type"
        return None


def _redirect(status: int, location: str) -> web.HTTPException:
    classes: dict[int, type[web.HTTPException]] = {
        301: web.HTTPMovedPermanently,
        302: web.HTTPFound,
        303: web.HTTPSeeOther,
        307: web.HTTPTemporaryRedirect,
        308: web.HTTPPermanentRedirect,
    }
    return classes[status](location=location)  # type: ignore[call-arg]


class SiteThread:
    """Runs a :class:`TestSite` in a background thread (its own event loop) for sync tests."""

    def __init__(self, site: TestSite | None = None) -> None:
        self.site = site or TestSite()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.site.start())
        except BaseException as exc:  # surfaced in __enter__
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.site.stop())
            loop.close()

    def __enter__(self) -> TestSite:
        self._thread = threading.Thread(target=self._run, name="test-site", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self.site

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
