"""Reads answered out of order (headless Chromium, real ``quaero serve``): under load
several reads of a job are in flight at once and may answer in any order. An answer
older than one already shown must not be shown: it put back a running job's status and
counts after the job finished, until the next event, which for a finished job never
comes (the job page and its crawl panel; the jobs table's rows; the Errors panel); and
the children list showed an answer made for filters no longer chosen.

Each test holds one read's answer (taken from the server when the page asked, given to
the page later), lets newer reads show the job finished, then gives the old answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from ..conftest import ServerProcess
from .test_console import PLUGIN_ENV, call, live

pytestmark = pytest.mark.browser

# Counts the answers the page got for reads of a job, its children or its error groups
# (GET /api/jobs/<id>[/children|/errors]), each counted in a task after the one that
# delivered it: by then the page has handled it.
COUNT_ANSWERS = """
window.__answers = 0;
const fetchFirst = window.fetch.bind(window);
window.fetch = async (...args) => {
  const response = await fetchFirst(...args);
  if (/\\/api\\/jobs\\/\\d+(\\/children|\\/errors)?$/.test(new URL(response.url).pathname)) {
    response.clone().text().then(() => setTimeout(() => { window.__answers += 1; }, 0));
  }
  return response;
};
"""

# Records every status the element matching ``selector`` shows (its badge's data-status).
WATCH_STATUS = """
(selector) => {
  window.__statuses = [];
  const read = () => {
    const s = document.querySelector(selector)?.dataset.status;
    if (s && s !== window.__statuses[window.__statuses.length - 1]) window.__statuses.push(s);
  };
  read();
  new MutationObserver(read).observe(document.body, { subtree: true, childList: true });
}
"""


class HeldRead:
    """Holds the first read matching ``pattern`` after :meth:`arm`: the server's answer
    is fetched when the page asks, and given to the page on :meth:`release`."""

    def __init__(self, page: Any, pattern: re.Pattern[str]) -> None:
        self.page = page
        self.held: list[tuple[Any, Any]] = []
        page.route(pattern, self._route)

    def _route(self, route: Any) -> None:
        if self.held or route.request.method != "GET":
            route.continue_()
            return
        self.held.append((route, route.fetch()))

    def wait_held(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.held:  # the route handler runs while Playwright waits
            assert time.monotonic() < deadline, "the page made no read to hold"
            self.page.wait_for_timeout(50)

    def release(self) -> None:
        """Give the held answer and wait until the page has handled it."""
        before = self.page.evaluate("window.__answers")
        route, response = self.held[0]
        route.fulfill(response=response)
        self.page.wait_for_function("(n) => window.__answers > n", arg=before)


def test_job_page_keeps_the_newest_answer(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    job = call(
        server,
        "/api/jobs",
        "POST",
        {"job_type": "steps", "name": "late", "config": {"total": 200, "sleep_ms": 100}},
    )
    page.add_init_script(COUNT_ANSWERS)
    page.goto(f"{server.url}/#/jobs/{job['id']}")
    live(page)
    own = page.locator("[data-testid=own-progress]")
    own.locator("[data-testid=own-progress-text]").get_by_text(re.compile(r" of 200 ")).wait_for()
    page.evaluate(WATCH_STATUS, ".page-head .status-cell .badge")
    # each progress report makes the page read the job: the next read is held (running)
    held = HeldRead(page, re.compile(rf"/api/jobs/{job['id']}$"))
    held.wait_held()
    assert held.held[0][1].json()["overall_status"] == "running"
    call(server, f"/api/jobs/{job['id']}/cancel", "POST")
    page.wait_for_function(
        "() => document.querySelector('.page-head .status-cell .badge')"
        "?.dataset.status === 'cancelled'"
    )
    own.locator(".badge").get_by_text("cancelled").wait_for()
    shown = own.locator("[data-testid=own-progress-text]").inner_text()

    held.release()
    statuses = page.evaluate("window.__statuses")
    assert statuses == ["running", "cancelled"], statuses
    assert own.locator(".badge").inner_text() == "cancelled"
    assert own.locator("[data-testid=own-progress-text]").inner_text() == shown


def test_jobs_table_row_keeps_the_newest_answer(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    job = call(
        server,
        "/api/jobs",
        "POST",
        {"job_type": "steps", "name": "late row", "config": {"total": 200, "sleep_ms": 100}},
    )
    page.add_init_script(COUNT_ANSWERS)
    page.goto(f"{server.url}/#/jobs")
    live(page)
    cell = page.locator(f'tr[data-job-id="{job["id"]}"] .progress-text')
    cell.get_by_text(re.compile(r" of 200 ")).wait_for()
    page.evaluate(WATCH_STATUS, f'tr[data-job-id="{job["id"]}"] .status-cell .badge')
    # its progress reports make the row read the job (at most once a second): held
    held = HeldRead(page, re.compile(rf"/api/jobs/{job['id']}$"))
    held.wait_held()
    assert held.held[0][1].json()["overall_status"] == "running"
    call(server, f"/api/jobs/{job['id']}/cancel", "POST")
    page.wait_for_function(
        '(id) => document.querySelector(`tr[data-job-id="${id}"] .status-cell .badge`)'
        "?.dataset.status === 'cancelled'",
        arg=job["id"],
    )
    shown = cell.inner_text()

    held.release()
    statuses = page.evaluate("window.__statuses")
    assert statuses == ["running", "cancelled"], statuses
    assert cell.inner_text() == shown


def test_children_list_shows_the_chosen_filters_answer(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server()
    job = call(server, "/api/jobs", "POST", {"job_type": "fanout", "config": {"children": 30}})
    page.add_init_script(COUNT_ANSWERS)
    page.goto(f"{server.url}/#/jobs/{job['id']}")
    page.locator("[data-testid=job-progress]").get_by_text(
        "0 pending, 0 running, 30 completed, 0 failed"
    ).wait_for()
    rows = page.locator(".children-table tbody tr")
    page.wait_for_function(
        "() => document.querySelectorAll('.children-table tbody tr').length === 25"
    )
    held = HeldRead(page, re.compile(rf"/api/jobs/{job['id']}/children\?"))
    status = page.get_by_label("Status", exact=True)
    status.select_option("completed")  # its read is held: 25 completed children
    held.wait_held()
    assert held.held[0][1].json()["total"] == 30
    status.select_option("failed")
    page.locator(".empty-small").get_by_text("No failed children.").wait_for()

    held.release()
    assert status.input_value() == "failed"
    assert page.locator(".empty-small").is_visible()
    assert rows.count() == 0


def test_errors_panel_keeps_the_newest_answer(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    job = call(
        server,
        "/api/jobs",
        "POST",
        {"job_type": "picky", "config": {"children": 12, "flaky": [3, 7, 11]}},
    )
    page.on("dialog", lambda d: d.accept())
    page.add_init_script(COUNT_ANSWERS)
    page.goto(f"{server.url}/#/jobs/{job['id']}?status=completed")
    panel = page.locator(".errors-card")
    panel.locator(".error-count").get_by_text("3", exact=True).wait_for()
    # a bulk cancel of the completed children changes nothing, and reads the error
    # groups again: that read is held (3 failed)
    held = HeldRead(page, re.compile(rf"/api/jobs/{job['id']}/errors\?"))
    page.get_by_role("button", name="Cancel all 9 matching children").click()
    held.wait_held()
    assert held.held[0][1].json()["items"][0]["count"] == 3
    # retried in place, the flaky children succeed: no error group is left
    page.locator("[data-testid=retry-failed]").click()
    page.locator("[data-testid=job-progress]").get_by_text(
        "0 pending, 0 running, 12 completed, 0 failed"
    ).wait_for()
    page.wait_for_function("() => document.querySelector('.errors-card').hidden")

    held.release()
    assert panel.is_hidden()
    assert call(server, f"/api/jobs/{job['id']}/errors")["items"] == []
