"""Crawl politeness shared by every process on one store (PostgreSQL, SQLite).

Three ``quaero worker`` processes crawl one local site with ``delay`` 0.2 s. The site's
own access log (arrival times taken in its handler) must show at least 0.2 s between any
two requests, robots.txt included, with all three processes fetching; and the crawl may
take at most 20 % more than the ideal ``requests x delay`` (its requests are the pages and
one robots.txt per process). On SQLite, two store instances on one file share the
same contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from quaero import App, JobStatus, Settings
from quaero.crawler.fetch import FetchConfig, Fetcher
from quaero.crawler.jobs import register
from quaero.events.types import JOB_STATUS_CHANGE, Event
from quaero.store.base import open_store
from tests.integration.store.pgdb import PG_URL, PgDatabases

pytestmark = pytest.mark.timeout(180)

QUAERO = str(Path(sys.executable).with_name("quaero"))
PAGES = 80
DELAY = 0.2
WORKERS = 3


class AccessLogSite:
    """``/p/{i}.html`` for i < PAGES, each linking to ``4i+1 .. 4i+4``; every request's
    arrival time (``time.monotonic()``) and path are logged."""

    def __init__(self) -> None:
        self.log: list[tuple[float, str]] = []
        #: when each answer of a /slow/ page was sent
        self.ends: list[float] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._ready = threading.Event()
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        with self._lock:
            self.log.append((time.monotonic(), request.path))
        if request.path.startswith("/slow/"):
            await asyncio.sleep(0.15)
            with self._lock:
                self.ends.append(time.monotonic())
            return web.Response(text="<html><body>slow</body></html>", content_type="text/html")
        if request.path == "/robots.txt":
            return web.Response(text="User-agent: *\nAllow: /\n")
        name = request.match_info.get("name", "")
        if not name.isdigit() or int(name) >= PAGES:
            raise web.HTTPNotFound()
        i = int(name)
        links = "".join(
            f'<a href="/p/{j}.html">page {j}</a> ' for j in range(4 * i + 1, 4 * i + 5) if j < PAGES
        )
        return web.Response(
            text=f"<html><head><title>Page {i}</title></head><body><p>Page {i}.</p>"
            f"{links}</body></html>",
            content_type="text/html",
        )

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_get("/robots.txt", self._handle)
        app.router.add_get("/p/{name}.html", self._handle)
        app.router.add_get("/slow/{name}.html", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def __enter__(self) -> AccessLogSite:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def site() -> Iterator[AccessLogSite]:
    with AccessLogSite() as s:
        yield s


@pytest.fixture
async def pg_url(pg_databases: PgDatabases) -> AsyncIterator[str]:
    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    url = await pg_databases.create()
    yield url
    await pg_databases.drop(url)


@pytest.mark.postgres
@pytest.mark.slow
async def test_three_worker_processes_keep_one_delay_per_host(
    pg_url: str, site: AccessLogSite, tmp_path: Path
) -> None:
    env = {**os.environ, "QUAERO_DB_URL": pg_url, "QUAERO_WORKER_SHUTDOWN_TIMEOUT": "2"}
    env.pop("QUAERO_CONFIG", None)
    settings = Settings()
    settings.store.url = pg_url
    logs = [(tmp_path / f"worker{i}.log").open("wb") for i in range(WORKERS)]
    workers = [
        subprocess.Popen(
            [QUAERO, "worker", "--concurrency", "4"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        for out in logs
    ]
    pg = await asyncpg.connect(pg_url)
    app = App(settings)
    register(app)
    try:
        async with app:
            async with asyncio.timeout(60):  # every worker is up: it LISTENs for work
                while await pg.fetchval(_LISTENERS) < 1 + WORKERS:
                    for w in workers:
                        assert w.poll() is None, _tails(tmp_path)
                    await asyncio.sleep(0.1)
            done = asyncio.Event()
            owners: set[str] = set()

            def on_event(e: Event) -> None:
                if e.job_id == job.id and e.payload.get("status") in ("completed", "failed"):
                    done.set()

            job = await app.submit(
                "crawl",
                {
                    "start_urls": [f"http://127.0.0.1:{site.port}/p/0.html"],
                    "max_depth": 10,
                    "delay": DELAY,
                    "allow_private_networks": True,
                },
            )
            app.bus.subscribe(on_event, types=(JOB_STATUS_CHANGE,))
            async with asyncio.timeout(120):
                while not done.is_set():  # who fetches: every process should take part
                    rows = await pg.fetch(
                        "SELECT DISTINCT lease_owner FROM jobs"
                        " WHERE job_type = 'crawl_url' AND status = 'running'"
                    )
                    owners.update(r[0] for r in rows if r[0])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), 0.05)
            finished = time.monotonic()
            final = await app.store.get_job(job.id)
            assert final is not None and final.status is JobStatus.COMPLETED, final
            assert final.result_count == PAGES
    finally:
        await pg.close()
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)
        for out in logs:
            out.close()
    log = sorted(site.log)
    times = [t for t, _ in log]
    paths = [p for _, p in log]
    # each page once; robots.txt once per process (each keeps its own robots cache)
    assert sorted(p for p in paths if p != "/robots.txt") == sorted(
        f"/p/{i}.html" for i in range(PAGES)
    )
    assert 1 <= paths.count("/robots.txt") <= WORKERS
    gaps = [(round(b[0] - a[0], 4), b[1]) for a, b in itertools.pairwise(log)]
    close = [(i, gaps[max(0, i - 2) : i + 2]) for i, (g, _) in enumerate(gaps) if g < DELAY]
    assert not close, close
    # the ideal: one request per delay, back to back, and the crawl done with the last
    ideal = len(times) * DELAY
    took = finished - times[0]
    print(
        f"{len(times)} requests, closest two {min(g for g, _ in gaps):.4f} s apart;"
        f" crawl {took:.2f} s vs ideal {ideal:.2f} s ({took / ideal - 1:+.1%})"
    )
    assert took <= 1.2 * ideal, (took, ideal, [g for g in gaps if g[0] > 2 * DELAY])
    hosts_owners = {o.rsplit(":", 1)[0] for o in owners}  # host:pid
    assert len(hosts_owners) == WORKERS, owners


_LISTENERS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND query ILIKE 'LISTEN%'
"""


async def test_two_stores_on_one_sqlite_file_share_the_delay(
    site: AccessLogSite, tmp_path: Path
) -> None:
    """The same contract on SQLite: two store instances (as two processes would have)
    on one file, each with its own fetcher, fetching at once."""
    url = f"sqlite:///{tmp_path}/q.db"
    stores = [open_store(url), open_store(url)]
    for s in stores:
        await s.open()
    fetchers = [Fetcher(FetchConfig(min_delay=DELAY, allow_private_networks=True)) for _ in stores]
    try:
        for f, s in zip(fetchers, stores, strict=True):
            f.throttle.share(s)
        n = 12
        await asyncio.gather(
            *(fetchers[i % 2].fetch(f"http://127.0.0.1:{site.port}/p/{i}.html") for i in range(n))
        )
    finally:
        for f in fetchers:
            await f.close()
        for s in stores:
            await s.close()
    times = sorted(t for t, _ in site.log)
    assert len(times) == n
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= DELAY, gaps
    assert times[-1] - times[0] <= 1.2 * (n - 1) * DELAY, gaps


async def test_one_request_in_flight_and_the_delay_after_its_end(
    site: AccessLogSite, tmp_path: Path
) -> None:
    """Answers slower than the delay: requests never overlap, and each starts at least
    the delay after the previous one's answer."""
    url = f"sqlite:///{tmp_path}/q.db"
    stores = [open_store(url), open_store(url)]
    for s in stores:
        await s.open()
    fetchers = [Fetcher(FetchConfig(min_delay=0.1, allow_private_networks=True)) for _ in stores]
    try:
        for f, s in zip(fetchers, stores, strict=True):
            f.throttle.share(s)
        await asyncio.gather(
            *(
                fetchers[i % 2].fetch(f"http://127.0.0.1:{site.port}/slow/{i}.html")
                for i in range(6)
            )
        )
    finally:
        for f in fetchers:
            await f.close()
        for s in stores:
            await s.close()
    starts = sorted(t for t, _ in site.log)
    ends = sorted(site.ends)
    assert len(starts) == len(ends) == 6
    # the (i+1)-th request arrives at least 0.1 s after the i-th was answered
    assert all(b - a >= 0.1 for a, b in zip(ends, starts[1:], strict=False)), (starts, ends)


def _tails(tmp_path: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
        for p in sorted(tmp_path.glob("worker*.log"))
    )
