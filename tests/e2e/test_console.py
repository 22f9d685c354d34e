"""The dashboard as an operator's console (issue 10), in headless Chromium against a real
``quaero serve``: failures and cancellations visible and clickable, leaf jobs, layouts at
1366x768 and 390x844, dark mode, the API page, the Live pill, empty states, back links,
sorting and the keyboard, the Schedules page. Screenshots of every page at both sizes go
to the artifacts folder.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.site import SiteThread, TestSite

from ..conftest import ROOT, ServerProcess, wait_until
from .conftest import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PLUGIN_ENV = {
    "QUAERO_PLUGINS": "tests.support.console_jobs",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    "QUAERO_WORKER_CONCURRENCY": "32",
}
FAILED = [10, 500, 900, 1200, 1500, 1999]
HELD = list(range(20, 32))


def call(server: ServerProcess, path: str, method: str = "GET", body: Any = None) -> Any:
    req = urllib.request.Request(
        f"{server.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        data = r.read()
        return json.loads(data) if data else None


def call_error(server: ServerProcess, path: str, method: str, body: Any) -> tuple[int, str]:
    try:
        call(server, path, method, body)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["detail"]
    raise AssertionError(f"{method} {path} succeeded")


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / name), full_page=True, animations="disabled")


def live(page: Any) -> None:
    page.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'")
    assert page.locator("#conn").is_visible()
    assert page.locator("#conn").inner_text() == "Live"


def box(locator: Any) -> dict[str, float]:
    b = locator.bounding_box()
    assert b is not None, "not rendered"
    return dict(b)


@pytest.fixture
def picky(quaero_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, int]:
    """A finished parent of 2,000 children: 6 failed, 12 cancelled, 1,982 completed."""
    server = quaero_server(env=PLUGIN_ENV)
    job = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "picky",
            "name": "picky parent",
            "config": {"children": 2000, "fail": FAILED, "hold": HELD},
        },
    )
    job_id = job["id"]

    seen: list[Any] = []

    def held_running() -> bool:
        c = call(server, f"/api/jobs/{job_id}")["children"]
        seen[:] = [c]
        return c["total"] == 2000 and c["pending"] == 0 and c["running"] == len(HELD)

    try:
        wait_until(held_running, 90, "the held children to be the only ones running")
    except BaseException:
        print("counts:", seen, server.log())
        raise
    running = call(server, f"/api/jobs/{job_id}/children?status=running&limit=100")["items"]
    for child in running:
        call(server, f"/api/jobs/{child['id']}/cancel", "POST")
    wait_until(
        lambda: call(server, f"/api/jobs/{job_id}")["overall_status"] == "failed",
        60,
        "the parent to finish",
    )
    return server, job_id


EXPECTED_TEXT = "0 pending, 0 running, 1,982 completed, 6 failed, 12 cancelled"


def test_failures_and_cancellations_are_seen_and_filter_children(
    page: Any, picky: tuple[ServerProcess, int], artifacts_dir: Path
) -> None:
    server, job_id = picky
    api_job = call(server, f"/api/jobs/{job_id}")
    # the payload's seed text is unchanged; the UI adds the cancelled count
    assert api_job["progress_text"] == "0 pending, 0 running, 1982 completed, 6 failed"

    page.set_viewport_size(DESKTOP)
    page.goto(server.url)
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.wait_for()
    live(page)
    text = row.locator(".progress-text")
    assert text.inner_text() == EXPECTED_TEXT
    bar = row.locator(".bar")
    label = bar.get_attribute("aria-label") or ""
    assert "6 failed" in label and "12 cancelled" in label and "done" not in label, label
    # 6 of 2,000 is 0.3 %: the segment still has a visible width, and so has cancelled
    assert box(bar.locator(".bar-failed"))["width"] >= 5
    assert box(bar.locator(".bar-cancelled"))["width"] >= 5
    failed_link = text.get_by_role("link", name="6 failed")
    color = failed_link.evaluate("(a) => getComputedStyle(a).color")
    assert color == "rgb(180, 35, 24)", color  # --failed
    # 1366x768: the whole row fits, Delete included
    delete = row.get_by_role("button", name=re.compile("^Delete job"))
    assert box(delete)["x"] + box(delete)["width"] <= DESKTOP["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    shot(page, artifacts_dir, "console-jobs-1366.png")

    # the red count filters the children list
    failed_link.click()
    page.wait_for_url(f"**/#/jobs/{job_id}?status=failed")
    children = page.locator(".children-table tbody tr")
    page.wait_for_function(
        "() => document.querySelectorAll('.children-table tbody tr').length === 6"
    )
    assert children.locator(".badge").all_inner_texts() == ["failed"] * 6
    assert page.get_by_label("Status", exact=True).input_value() == "failed"
    progress = page.locator("[data-testid=job-progress]")
    assert progress.inner_text() == EXPECTED_TEXT
    page.locator(".counts").get_by_role("button", name="12 cancelled").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.children-table tbody tr .badge')]"
        ".map((b) => b.textContent).join() === Array(12).fill('cancelled').join()"
    )
    shot(page, artifacts_dir, "console-job-1366.png")

    # an empty filtered list says so and offers the way out
    page.get_by_label("Status", exact=True).select_option("running")
    empty = page.locator(".empty-small")
    empty.get_by_text("No running children.").wait_for()
    empty.get_by_role("button", name="Show all children").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.children-table tbody tr').length === 25"
    )
    assert page.get_by_label("Status", exact=True).input_value() == ""

    # a child's page: its own state instead of empty counters, and the way back to its parent
    page.locator(".children-table tbody tr").first.get_by_role(
        "link", name=re.compile("^Job ")
    ).click()
    page.locator("[data-testid=own-progress]").wait_for()
    assert page.locator("[data-testid=job-progress]").is_hidden()
    assert re.match(r"ran \d", page.locator("[data-testid=own-duration]").inner_text())
    back = page.get_by_role("link", name=f"← picky parent #{job_id}")
    back.click()
    page.wait_for_url(f"**/#/jobs/{job_id}")
    page.locator("[data-testid=job-progress]").wait_for()

    # 390x844: the Progress cell stays inside the viewport
    page.set_viewport_size(PHONE)
    page.goto(f"{server.url}/#/jobs")
    cell = page.locator(f'tr[data-job-id="{job_id}"] .progress-cell')
    cell.wait_for()
    b = box(cell)
    assert b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"], b
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "console-jobs-390.png")
    page.goto(f"{server.url}/#/jobs/{job_id}")
    page.locator("[data-testid=job-progress]").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "console-job-390.png")


# Records, per job id, every distinct text of its row's Progress cell (no reload).
WATCH_LEAF = """
() => {
  window.__noReload = true;
  window.__leafTexts = {};
  const read = () => {
    for (const el of document.querySelectorAll(".jobs-table tr[data-job-id] .progress-text")) {
      const id = el.closest("tr").dataset.jobId;
      const seen = (window.__leafTexts[id] ||= []);
      if (el.textContent !== seen[seen.length - 1]) seen.push(el.textContent);
    }
  };
  new MutationObserver(read).observe(document.querySelector(".jobs-table"), {
    subtree: true, childList: true, characterData: true,
  });
}
"""


def test_leaf_job_shows_its_own_progress_and_duration(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    job = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "steps",
            "name": "a leaf",
            "config": {"total": 3, "sleep_ms": 50, "hold": True},
        },
    )
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job['id']}")
    own = page.locator("[data-testid=own-progress]")
    own.locator("[data-testid=own-progress-text]").get_by_text("3 of 3 · step 3 of 3").wait_for()
    assert own.locator(".badge").inner_text() == "running"
    assert re.match(r"running for \d", own.locator("[data-testid=own-duration]").inner_text())
    assert page.locator("[data-testid=job-progress]").is_hidden()  # no "0 pending, ..." panel
    assert page.locator(".details").get_by_text("Stored status").count() == 0
    shot(page, artifacts_dir, "console-leaf-1366.png")
    call(server, f"/api/jobs/{job['id']}/cancel", "POST")
    own.locator(".badge").get_by_text("cancelled").wait_for()
    # the jobs table shows a leaf's own progress too, not "0 pending, 0 running, ...",
    # and it moves live: every text its cell shows is recorded from before the job
    # exists (a text read once after the page loaded may already be the last one)
    page.goto(f"{server.url}/#/jobs")
    live(page)
    page.evaluate(WATCH_LEAF)
    leaf2 = call(
        server,
        "/api/jobs",
        "POST",
        {"job_type": "steps", "name": "leaf two", "config": {"total": 40, "sleep_ms": 100}},
    )
    cell = page.locator(f'tr[data-job-id="{leaf2["id"]}"] .progress-text')
    cell.get_by_text("40 of 40 · step 40 of 40").wait_for()
    assert page.evaluate("window.__noReload") is True
    texts = page.evaluate("(id) => window.__leafTexts[id]", leaf2["id"])
    # before its first report it may still spawn children: the counts' text; from then
    # on its own progress only, seen at least twice, never going back
    step = re.compile(r"(\d+) of 40 · step \1 of 40")
    reports = [step.fullmatch(t) for t in texts]
    first = next(i for i, m in enumerate(reports) if m)
    assert set(texts[:first]) <= {"0 pending, 0 running, 0 completed, 0 failed"}, texts
    done = [int(m.group(1)) for m in reports[first:] if m]
    assert len(done) == len(texts) - first >= 2, texts
    assert done == sorted(done) and done[-1] == 40, texts


def test_dark_mode(browser: Any, picky: tuple[ServerProcess, int], artifacts_dir: Path) -> None:
    server, job_id = picky
    for size, name in ((DESKTOP, "1366"), (PHONE, "390")):
        context = browser.new_context(viewport=size, color_scheme="dark")
        page = context.new_page()
        try:
            page.goto(f"{server.url}/#/jobs/{job_id}")
            page.locator("[data-testid=job-progress]").wait_for()
            bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
            card = page.evaluate(
                "getComputedStyle(document.querySelector('.card')).backgroundColor"
            )
            text = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
            assert bg == "rgb(15, 20, 27)", bg
            assert card == "rgb(23, 30, 40)", card
            assert text == "rgb(228, 233, 241)", text
            shot(page, artifacts_dir, f"console-dark-job-{name}.png")
            page.goto(f"{server.url}/#/jobs")
            page.locator(f'tr[data-job-id="{job_id}"]').wait_for()
            th = page.evaluate("getComputedStyle(document.querySelector('th')).backgroundColor")
            assert th == "rgb(29, 38, 51)", th
            shot(page, artifacts_dir, f"console-dark-jobs-{name}.png")
        finally:
            context.close()


def test_api_page_has_the_app_nav_a_toc_and_the_guide(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server("--no-workers")
    guide_md = (ROOT / "docs" / "api.md").read_text()
    with urllib.request.urlopen(f"{server.url}/docs/api.md", timeout=10) as r:
        assert r.read().decode() == guide_md
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/docs")
    page.wait_for_url("**/#/api")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Jobs", "New job", "New crawl", "Documents", "Schedules", "API"):
        nav.get_by_role("link", name=name, exact=True).wait_for()
    live(page)
    page.get_by_role("heading", name="jobs", exact=True).wait_for()
    page.locator("#post-api-jobs").get_by_text("Request body (JSON)").wait_for()
    # reST in descriptions is rendered: ``root`` becomes <code>root</code>
    list_op = page.locator("#get-api-jobs")
    assert list_op.locator("code", has_text=re.compile("^root$")).count() >= 1
    assert "``" not in page.locator("#reference").inner_text()
    # docs/api.md's headings are in the guide and in the table of contents
    first_h2 = re.search(r"^## (.+)$", guide_md, re.M)
    assert first_h2
    title = first_h2.group(1).replace("`", "").strip()
    page.locator("#guide h2").first.wait_for()
    assert page.locator("#guide h2").first.inner_text() == title
    toc = page.get_by_role("navigation", name="Contents")
    toc.get_by_role("link", name=title, exact=True).click()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.tagName === 'H2'"
    )
    assert toc.get_by_role("link", name="Schemas").count() == 1
    shot(page, artifacts_dir, "console-api-1366.png")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts_dir / "console-api-top-1366.png"), animations="disabled")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "console-api-390.png")


def test_schedules_page(
    page: Any,
    quaero_server: Callable[..., ServerProcess],
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "every-five.toml").write_text(
        'name = "Every five"\njob_type = "fanout"\nschedule = "0 0 1 1 *"\n'
        "enabled = true\n[config]\nchildren = 3\n"
    )
    server = quaero_server(env={"QUAERO_JOBS_DEFINITIONS_DIR": str(defs)})
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/schedules")
    row = page.locator('tr[data-definition-id="every-five"]')
    row.wait_for()
    live(page)
    assert row.locator("code").inner_text() == "0 0 1 1 *"
    assert re.search(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in \d+", row.locator(".next-cell").inner_text()
    )
    assert row.locator(".last-cell").inner_text() == "never ran"

    row.get_by_role("button", name="Run Every five now").click()
    started = page.locator(".notice-ok").get_by_role("link", name=re.compile(r"job #\d+"))
    started.wait_for()
    run_id = int(started.inner_text().split("#")[1])
    row.locator(".last-cell").get_by_role("link", name=f"#{run_id}").wait_for()
    assert call(server, f"/api/jobs/{run_id}")["metadata"]["definition"] == "every-five"

    # disable and enable the schedule
    toggle = row.get_by_label("Schedule of Every five enabled")
    toggle.uncheck()
    row.locator(".next-cell").get_by_text("disabled").wait_for()
    assert call(server, "/api/definitions/every-five")["enabled"] is False
    toggle = page.locator('tr[data-definition-id="every-five"]').get_by_label(
        "Schedule of Every five enabled"
    )
    toggle.check()
    page.locator('tr[data-definition-id="every-five"] .next-cell').get_by_text("(in ").wait_for()
    assert call(server, "/api/definitions/every-five")["enabled"] is True

    # a new definition: the API's validation message, word for word
    body = {"job_type": "fanout", "config": {"children": 1}, "schedule": "61 * * * *"}
    status, detail = call_error(server, "/api/definitions/nightly", "PUT", body)
    assert status == 422
    page.get_by_role("button", name="New definition").click()
    page.get_by_label("Id").fill("nightly")
    page.get_by_label("Job type").select_option("fanout")
    page.get_by_label("Schedule (cron)").fill("61 * * * *")
    page.get_by_label("Config (JSON object)").fill('{"children": 1}')
    page.get_by_role("button", name="Create").click()
    page.get_by_role("alert").get_by_text(detail, exact=True).wait_for()
    shot(page, artifacts_dir, "console-schedules-error-1366.png")
    page.get_by_label("Schedule (cron)").fill("0 3 * * *")
    page.get_by_role("button", name="Create").click()
    page.locator('tr[data-definition-id="nightly"]').wait_for()
    assert call(server, "/api/definitions/nightly")["schedule"] == "0 3 * * *"
    shot(page, artifacts_dir, "console-schedules-1366.png")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    shot(page, artifacts_dir, "console-schedules-390.png")


def test_keyboard_sorting_and_empty_states(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server()
    ids = [call(server, "/api/jobs", "POST", {"job_type": "noop", "name": n})["id"] for n in "bca"]
    page.set_viewport_size(DESKTOP)
    page.goto(server.url)
    page.locator(f'tr[data-job-id="{ids[0]}"]').wait_for()

    # "/" focuses the search box
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "filter-q"
    page.keyboard.type("no such job")
    empty = page.locator(".empty")
    empty.get_by_text("No jobs match “no such job”.").wait_for()
    empty.get_by_role("button", name="Clear the filters").click()
    page.locator(f'tr[data-job-id="{ids[0]}"]').wait_for()

    # sortable columns, by keyboard: Name ascending
    name_header = page.locator("th[data-sort=name] button")
    page.get_by_label("Search").focus()
    for _ in range(10):  # Tab from the search box to the Name header
        if name_header.evaluate("(b) => b === document.activeElement"):
            break
        page.keyboard.press("Tab")
    assert name_header.evaluate("(b) => b === document.activeElement")
    shadow = name_header.evaluate("(b) => getComputedStyle(b).boxShadow")
    assert shadow != "none", "no visible focus"
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('th[data-sort=name]').getAttribute('aria-sort') === 'ascending'"
    )
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jobs-table tbody .col-name a')]
                 .map((a) => a.textContent).join() === 'a,b,c'"""
    )
    assert "order_by=name" in page.url

    # every row action is a focusable button
    page.locator(f'tr[data-job-id="{ids[0]}"]').get_by_role(
        "button", name=re.compile("^Rerun job")
    ).focus()
    assert page.evaluate("document.activeElement.textContent") == "Rerun"


@pytest.fixture
def site() -> Iterator[TestSite]:
    with SiteThread(TestSite(n_pages=40, slow_delay=0.05)) as s:
        yield s


def test_crawl_children_documents_and_readable_errors(
    page: Any,
    quaero_server: Callable[..., ServerProcess],
    site: TestSite,
    artifacts_dir: Path,
) -> None:
    server = quaero_server(env={"QUAERO_WORKER_CONCURRENCY": "8"})
    crawl = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "crawl",
            "name": "console crawl",
            "config": {
                "start_urls": [site.url("/")],
                "max_depth": 1,
                "max_pages": 60,
                "delay": 0.1,
                "allow_private_networks": True,
            },
        },
    )
    crawl_id = crawl["id"]
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{crawl_id}")
    details = page.locator("[data-testid=details-documents]")
    panel_docs = page.locator("[data-testid=crawl-documents]")
    # the Details panel counts documents live while the crawl runs
    page.wait_for_function(
        """() => {
            const d = document.querySelector('[data-testid=details-documents]');
            const open = document.querySelector('[data-testid=crawl-discovery]');
            return d && open && open.textContent === 'Discovery open' && Number(d.textContent) >= 3;
        }""",
        timeout=60_000,
    )
    page.locator("[data-testid=crawl-discovery]").get_by_text("Discovery closed").wait_for(
        timeout=90_000
    )
    final = call(server, f"/api/jobs/{crawl_id}")
    # the Details panel and the crawl panel read the job on their own: both settle on
    # the final count (compared once, one could still show its previous read)
    page.wait_for_function(
        "(n) => document.querySelector('[data-testid=details-documents]').textContent === n"
        " && document.querySelector('[data-testid=crawl-documents]').textContent === n",
        arg=f"{final['result_count']:,}",
    )
    assert details.inner_text() == panel_docs.inner_text() == f"{final['result_count']:,}"

    # children: HTTP status, size, title, and a link to the document
    ok_row = page.locator(
        ".children-table tbody tr", has=page.locator(".http-cell", has_text="200")
    ).first
    ok_row.wait_for()
    assert re.match(r"[\d.]+ (B|kB|MB)$", ok_row.locator(".size-cell").inner_text())
    assert ok_row.locator(".title-cell").inner_text().strip()
    shot(page, artifacts_dir, "console-crawl-1366.png")
    ok_row.get_by_role("link", name=re.compile("^http")).click()
    page.wait_for_url(re.compile(r".*#/documents/\d+$"))
    links = page.locator(".details dd", has_text="on the page")
    links.wait_for()
    assert "followed" not in links.inner_text()
    shot(page, artifacts_dir, "console-page-document-1366.png")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "console-page-document-390.png")
    page.goto(f"{server.url}/#/jobs/{crawl_id}")
    page.locator(".children-table tbody tr").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "console-crawl-390.png")
    page.set_viewport_size(DESKTOP)

    # "← Documents" keeps the search it came from; a search with no results offers a way out
    page.goto(f"{server.url}/#/documents?q=omicron")
    first = page.locator(".doc-result h2 a").first
    first.wait_for()
    first.click()
    page.wait_for_url(re.compile(r".*#/documents/\d+$"))
    page.get_by_role("link", name="← Documents").click()
    page.wait_for_url("**/#/documents?q=omicron")
    assert page.get_by_label("Search documents").input_value() == "omicron"
    page.get_by_label("Search documents").fill("zzzznothing")
    empty = page.locator(".empty")
    empty.get_by_text("contains every word of “zzzznothing”").wait_for()
    shot(page, artifacts_dir, "console-documents-empty-1366.png")
    empty.get_by_role("button", name="Clear the search").click()
    page.locator(".doc-result").first.wait_for()

    # a crawl of a private address is refused at submit, saying how to allow it; the
    # New crawl form shows the server's sentence
    code, detail = call_error(
        server,
        "/api/jobs",
        "POST",
        {"job_type": "crawl", "name": "refused", "config": {"start_urls": [site.url("/")]}},
    )
    assert code == 422
    assert "Allow private networks" in detail and "--allow-private-networks" in detail, detail
    page.goto(f"{server.url}/#/crawl/new")
    page.locator("#crawl-start_urls").fill(site.url("/"))
    page.get_by_role("button", name="Start job").click()
    field_error = page.locator("#crawl-start_urls-error")
    field_error.wait_for()
    assert "--allow-private-networks" in field_error.inner_text()


PAGES = [
    ("jobs", "#/jobs", "h1"),
    ("new-job", "#/new", "#job-config"),
    ("new-crawl", "#/crawl/new", "#crawl-start_urls"),
    ("documents", "#/documents", "#doc-q"),
    ("schedules", "#/schedules", "h1"),
    ("api", "#/api", "#guide h2"),
]


def test_every_page_is_live_and_fits_both_sizes(
    page: Any, picky: tuple[ServerProcess, int], artifacts_dir: Path
) -> None:
    server, job_id = picky
    pages = [*PAGES, ("job", f"#/jobs/{job_id}", "[data-testid=job-progress]")]
    for size, label in ((DESKTOP, "1366"), (PHONE, "390")):
        page.set_viewport_size(size)
        for name, hash_, ready in pages:
            page.goto(f"{server.url}/{hash_}")
            page.locator(ready).first.wait_for()
            live(page)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"{name} at {label}: {width}px wide"
            shot(page, artifacts_dir, f"console-page-{name}-{label}.png")


STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_pages_work_under_a_strict_content_security_policy(
    browser: Any, picky: tuple[ServerProcess, int]
) -> None:
    """No inline script or style anywhere: every page renders under script-src 'self';
    style-src 'self' (the header is added here, as the hardening work will serve it)."""
    server, job_id = picky

    def with_csp(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": STRICT_CSP}
        route.fulfill(response=response, headers=headers)

    # a document answered through page.route counts as "public" for Chromium's local
    # network access checks, which would then refuse its WebSocket to 127.0.0.1
    own = browser.browser_type.launch(
        executable_path=chromium_path(),
        args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
    )
    context = own.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _check_pages_under_csp(page, server, job_id, with_csp)
    finally:
        context.close()
        own.close()
    assert not errors, errors


def _check_pages_under_csp(page: Any, server: ServerProcess, job_id: int, with_csp: Any) -> None:
    page.route(f"{server.url}/", with_csp)  # the document: its policy covers the page
    page.add_init_script(WATCH_CSP)
    page.set_viewport_size(DESKTOP)
    pages = [*PAGES, ("job", f"#/jobs/{job_id}", "[data-testid=job-progress]")]
    for _name, hash_, ready in pages:
        page.goto(f"{server.url}/{hash_}")
        page.locator(ready).first.wait_for()
        # (wait_for_function compiles its predicate with eval, which the policy forbids)
        wait_until(
            lambda: page.evaluate("document.getElementById('conn').dataset.state") == "live",
            30,
            f"the Live pill on {hash_}",
        )
        assert page.evaluate("window.__csp") == [], hash_
    # the bar's widths are set through the CSSOM, which the policy allows
    page.goto(f"{server.url}/#/jobs")
    bar = page.locator(f'tr[data-job-id="{job_id}"] .bar-completed')
    bar.wait_for()
    assert box(bar)["width"] > 50
    assert page.evaluate("window.__csp") == []
    # the policy is in force and watched: an inline style attribute is reported
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    wait_until(lambda: page.evaluate("window.__csp.length") > 0, 10, "a reported violation")
    assert "style-src" in page.evaluate("window.__csp[0]")
