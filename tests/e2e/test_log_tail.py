"""The job page's live log on PostgreSQL shows a line that commits after lines with
higher ids were shown, at its id's place (headless Chromium, real ``quaero serve``).

A log line takes its id when its transaction writes it and shows when that commits, so
on PostgreSQL a long transaction's line shows after later ids. The tail used to read only
after the last id shown and never showed such a line (the `jobs logs --follow` CLI had
the same fault; both now read from a floor a little behind the last line shown).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from quaero import App, NewJob, Settings
from quaero.store.base import LogEntry

from ..conftest import ServerProcess, find_free_port
from ..integration.store.pgdb import PG_URL, PgDatabases

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


class Loop:
    """An event loop on its own thread: the test's App and held transaction live there
    while Playwright's sync API drives the page from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    bg = Loop()  # Playwright's sync API runs a loop on the test's thread
    yield bg
    bg.close()


@pytest.fixture
def pg_db(loop: Loop) -> Iterator[str]:
    if not PG_URL:
        pytest.skip("QUAERO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    dbs = PgDatabases()
    url = loop.run(dbs.create())
    try:
        yield url
    finally:
        loop.run(dbs.drop(url))
        loop.run(asyncio.to_thread(dbs.drop_template))


def lines_shown(page: Any) -> list[str]:
    return [str(t) for t in page.locator(".log-list .log-message").all_inner_texts()]


def test_a_line_committed_late_shows_in_place(
    page: Any,
    loop: Loop,
    pg_db: str,
    tmp_path: Path,
) -> None:
    settings = Settings()
    settings.store.url = pg_db
    app = App(settings)
    conn: Any = None
    env = {**os.environ, "QUAERO_EVENTS_POLL_INTERVAL": "0.1"}
    env.pop("QUAERO_CONFIG", None)
    server = ServerProcess(pg_db, find_free_port(), tmp_path / "serve.log", ["--no-workers"], env)
    try:
        loop.run(app.__aenter__())
        root = loop.run(app.submit("fanout", {"children": 0}))
        kids = loop.run(
            app.store.spawn_children(
                [NewJob("noop", parent_id=root.id), NewJob("noop", parent_id=root.id)]
            )
        ).created
        a, b = kids[0].id, kids[1].id

        def add(job_id: int, message: str) -> None:
            loop.run(app.store.add_logs([LogEntry(job_id, "info", message, time.time())]))

        server.start()
        page.goto(f"{server.url}/#/jobs/{root.id}")
        page.locator("#log-aggregated").check()
        page.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'")

        # a transaction takes the next log id for a's line and stays open
        conn = loop.run(asyncpg.connect(pg_db))
        tx = conn.transaction()
        loop.run(tx.start())
        loop.run(
            conn.execute(
                "INSERT INTO job_logs (job_id, root_id, ts, level, message)"
                " VALUES ($1, $2, $3, 'info', 'a: late')",
                a,
                root.id,
                time.time(),
            )
        )
        add(b, "b: first")  # a higher id, shown at once
        page.locator(".log-list").get_by_text("b: first").wait_for()
        loop.run(tx.commit())
        add(b, "b: second")  # its event makes the page read again
        page.locator(".log-list").get_by_text("b: second").wait_for()
        page.locator(".log-list").get_by_text("a: late").wait_for(timeout=10_000)
        shown = lines_shown(page)
        assert shown.index("a: late") < shown.index("b: first") < shown.index("b: second")
        assert len(shown) == len(set(shown))  # nothing twice
    finally:
        server.stop(signal.SIGTERM)
        if conn is not None:
            loop.run(conn.close())
        loop.run(app.__aexit__(None, None, None))
