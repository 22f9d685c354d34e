"""The dashboard's operator actions (issue 10, features), in headless Chromium against a
real ``quaero serve``: retry failed in place, bulk actions on a filtered children list,
the Errors and Explain panels, the descendants roll-up, rate / ETA / sparkline, and the
Workers page. Screenshots at 1366x768 and 390x844 go to the artifacts folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ServerProcess, wait_until
from .test_console import DESKTOP, PHONE, PLUGIN_ENV, call, live, shot

pytestmark = pytest.mark.browser


def confirmations(page: Any) -> list[str]:
    """Accept every confirm() and keep its question."""
    asked: list[str] = []

    def on_dialog(d: Any) -> None:
        asked.append(d.message)
        d.accept()

    page.on("dialog", on_dialog)
    return asked


def wait_status(server: ServerProcess, job_id: int, status: str, timeout: float = 60) -> None:
    wait_until(
        lambda: call(server, f"/api/jobs/{job_id}")["overall_status"] == status,
        timeout,
        f"job {job_id} to be {status}",
    )


def head_status(page: Any, status: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "(s) => document.querySelector('.page-head .status-cell .badge')?.dataset.status === s",
        arg=status,
        timeout=timeout,
    )


def test_retry_failed_in_place(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    flaky = [3, 7, 11]
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "picky",
            "name": "flaky parent",
            "config": {"children": 40, "flaky": flaky, "sleep_ms": 1500},
        },
    )["id"]
    wait_status(server, job_id, "failed")
    top_level = call(server, "/api/jobs?parent_id=root")["total"]
    asked = confirmations(page)

    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    live(page)
    head_status(page, "failed")
    retry = page.locator("[data-testid=retry-failed]")
    assert retry.inner_text() == "Retry 3 failed"
    assert page.locator("[data-testid=retry-failed-cancelled]").is_hidden()  # none cancelled
    shot(page, artifacts_dir, "operator-retry-1366.png")
    retry.click()
    assert asked and asked[0].startswith("Retry 3 failed jobs of this tree in place?"), asked
    page.locator(".messages .notice-ok").get_by_text("Retried 3 jobs of 3 matches.").wait_for()
    # the same job (same page, same id) runs again, then completes
    head_status(page, "running")
    # (the retried children are pending until a worker claims them: wait, do not sample)
    page.locator("[data-testid=job-progress]").get_by_text(
        "0 pending, 3 running, 37 completed, 0 failed"
    ).wait_for()
    head_status(page, "completed")
    page.locator("[data-testid=job-progress]").get_by_text(
        "0 pending, 0 running, 40 completed, 0 failed"
    ).wait_for()
    assert page.locator("[data-testid=retry-failed]").is_hidden()
    assert page.url.endswith(f"#/jobs/{job_id}")
    # no new top-level job: the jobs table still has the one parent, now completed
    assert call(server, "/api/jobs?parent_id=root")["total"] == top_level
    page.goto(f"{server.url}/#/jobs")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.wait_for()
    assert page.locator(".jobs-table tbody tr").count() == top_level
    assert row.locator(".status-cell .badge").inner_text() == "completed"


@pytest.fixture
def mixed(quaero_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, int]:
    """A running parent of 40 children: 3 failed, 10 held running, 27 completed."""
    server = quaero_server(env=PLUGIN_ENV)
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "picky",
            "name": "mixed parent",
            "config": {"children": 40, "fail": [1, 2, 3], "hold": list(range(10, 20))},
        },
    )["id"]
    wait_until(
        lambda: (
            call(server, f"/api/jobs/{job_id}")["children"]
            == {
                "total": 40,
                "pending": 0,
                "running": 10,
                "completed": 27,
                "failed": 3,
                "cancelled": 0,
            }
        ),
        60,
        "3 failed, 10 held running",
    )
    return server, job_id


def test_bulk_cancel_on_a_filtered_list(
    page: Any, mixed: tuple[ServerProcess, int], artifacts_dir: Path
) -> None:
    server, job_id = mixed
    asked = confirmations(page)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}?status=running")
    live(page)
    page.wait_for_function(
        "() => document.querySelectorAll('.children-table tbody tr').length === 10"
    )
    bar = page.locator(".bulk-bar")
    assert bar.locator(".bulk-info").inner_text() == "10 matching children (status running):"

    # delete of running children is refused: the server's 409 sentence, nothing deleted
    bar.get_by_role("button", name="Delete all 10 matching children").click()
    assert asked[-1] == "Delete the 10 children (status running) with their subtrees and logs?"
    refused = bar.locator(".bulk-result .notice-error")
    refused.wait_for()
    assert refused.inner_text().startswith("Delete refused: ")
    assert "running" in refused.inner_text()
    assert call(server, f"/api/jobs/{job_id}")["children"]["running"] == 10
    shot(page, artifacts_dir, "operator-bulk-refused-1366.png")

    bar.get_by_role("button", name="Cancel all 10 matching children").click()
    assert asked[-1] == "Cancel the 10 children (status running)?"
    bar.locator(".bulk-result .notice-ok").get_by_text(
        "Cancelled 10 jobs of 10 matches."
    ).wait_for()
    # the filtered list empties; the counts follow; the bar keeps the result, not the buttons
    page.locator(".empty-small").get_by_text("No running children.").wait_for()
    assert bar.locator(".bulk-result .notice-ok").inner_text() == "Cancelled 10 jobs of 10 matches."
    page.wait_for_function("() => document.querySelector('.bulk-bar .bulk-row').hidden")
    page.locator("[data-testid=job-progress]").get_by_text(
        "0 pending, 0 running, 27 completed, 3 failed, 10 cancelled"
    ).wait_for()
    head_status(page, "failed")
    children = call(server, f"/api/jobs/{job_id}/children?status=cancelled&limit=50")["items"]
    assert sorted(c["config"]["i"] for c in children) == list(range(10, 20))
    assert call(server, f"/api/jobs/{job_id}")["children"]["failed"] == 3  # untouched
    shot(page, artifacts_dir, "operator-bulk-1366.png")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "operator-bulk-390.png")


def test_errors_panel(page: Any, mixed: tuple[ServerProcess, int], artifacts_dir: Path) -> None:
    server, job_id = mixed
    groups = call(server, f"/api/jobs/{job_id}/errors")["items"]
    assert len(groups) == 1 and groups[0]["count"] == 3, groups
    key = groups[0]["key"]
    asked = confirmations(page)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    panel = page.locator(".errors-card")
    panel.wait_for()
    rows = panel.locator("tbody tr")
    assert rows.count() == 1
    assert rows.locator(".error-key code").inner_text() == key
    assert rows.locator(".error-count").inner_text() == "3"
    assert rows.locator(".samples a").count() == 3
    shot(page, artifacts_dir, "operator-errors-1366.png")

    # view samples: the children list filtered by this error group
    rows.get_by_role("button", name=f"View samples of error group {key}").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.children-table tbody tr .badge')]"
        ".map((b) => b.textContent).join() === 'failed,failed,failed'"
    )
    assert page.get_by_label("Error group", exact=True).input_value() == key
    assert "error_group=" in page.url
    names = page.locator(".children-table tbody .col-name").all_inner_texts()
    assert names == ["child 1", "child 2", "child 3"]
    assert page.locator(".bulk-info").inner_text() == f"3 matching children (error group {key}):"

    # retry this group: the 3 run again (and fail again: their failure is permanent)
    rows.get_by_role("button", name=f"Retry error group {key}").click()
    assert asked[-1] == f"Retry the 3 failed jobs of error group “{key}” in place?"
    page.locator(".messages .notice-ok").get_by_text(
        f"Retried 3 jobs of 3 matches. (error group “{key}”)"
    ).wait_for()
    wait_until(
        lambda: (
            all(
                c["attempts"] == 1 and c["overall_status"] == "failed"
                for c in call(server, f"/api/jobs/{job_id}/children?status=failed")["items"]
            )
            and call(server, f"/api/jobs/{job_id}")["children"]["failed"] == 3
        ),
        30,
        "the group to fail again",
    )
    page.set_viewport_size(PHONE)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    panel.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "operator-errors-390.png")


def test_explain_panel_for_a_child_type_no_worker_serves(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env={**PLUGIN_ENV, "QUAERO_JOBS_EXTERNAL_TYPES": "ghost"})
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {"job_type": "fanout", "name": "haunted", "config": {"children": 5, "child_type": "ghost"}},
    )["id"]
    wait_until(
        lambda: call(server, f"/api/jobs/{job_id}")["children"]["pending"] == 5,
        30,
        "5 ghost children pending",
    )

    # The fan-out handler may still be running after its children are pending (it
    # returns after the spawn commits): wait until the answer has settled.
    answers: list[dict[str, Any]] = []

    def settled() -> bool:
        answers.append(call(server, f"/api/jobs/{job_id}/explain"))
        kinds = {r["kind"] for r in answers[-1]["reasons"]}
        return "handler_running" not in kinds and "children_type_unserved" in kinds

    wait_until(settled, 30, "the parent's handler to return, its children unserved")
    explained = answers[-1]
    unserved = [r for r in explained["reasons"] if r["kind"] == "children_type_unserved"]
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    live(page)
    card = page.locator(".explain-card")
    summary = card.locator("[data-testid=explain-summary]")
    summary.get_by_text(unserved[0]["message"]).wait_for()
    assert summary.locator("li").all_inner_texts() == explained["summary"]
    facts = card.locator(".explain-facts")
    assert "5 (5 due now, 0 not due)" in facts.inner_text()
    ghost = facts.locator(".unserved")
    assert ghost.inner_text() == "ghost 5 · no live worker serves this type"
    assert re.search(r"1 live of 1 registered · serving .*picky", facts.inner_text())
    shot(page, artifacts_dir, "operator-explain-1366.png")

    # refresh on demand: after a cancel the answer changes
    call(server, f"/api/jobs/{job_id}/cancel", "POST")
    head_status(page, "cancelled")
    card.get_by_role("button", name="Refresh").click()
    wait_until(
        lambda: (
            summary.inner_text() != unserved[0]["message"] and "ghost" not in summary.inner_text()
        ),
        15,
        "the explanation to change after the cancel",
    )
    assert (
        summary.locator("li").all_inner_texts()
        == call(server, f"/api/jobs/{job_id}/explain")["summary"]
    )
    assert card.locator("h2").inner_text() == "Why it is done"
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "operator-explain-390.png")


def test_explain_panel_says_at_least_where_its_counts_stop(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    """Beyond 2,000 pending children the per-type counts stop (read in an index): the
    panel said "ghost 2,000" of 2,500 and "at least 0 not due" (found by a fresh user)."""
    server = quaero_server(env={**PLUGIN_ENV, "QUAERO_JOBS_EXTERNAL_TYPES": "ghost"})
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "fanout",
            "name": "crowd",
            "config": {"children": 2500, "child_type": "ghost"},
        },
    )["id"]
    wait_until(
        lambda: call(server, f"/api/jobs/{job_id}")["children"]["pending"] == 2500,
        60,
        "2,500 ghost children pending",
    )
    pending = call(server, f"/api/jobs/{job_id}/explain")["children"]["pending"]
    [ghost_type] = pending["by_type"]
    assert not pending["exact"] and not ghost_type["exact"] and pending["not_due"] == 0
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    live(page)
    facts = page.locator(".explain-card .explain-facts")
    ghost = facts.locator(".unserved")
    ghost.wait_for()
    assert ghost.inner_text() == (
        f"ghost at least {ghost_type['count']:,} · no live worker serves this type"
    )
    assert "2,500 (at most 2,500 due now)" in facts.inner_text(), facts.inner_text()
    assert "not due" not in facts.inner_text()
    shot(page, artifacts_dir, "operator-explain-capped-1366.png")


def test_failed_children_show_their_error_on_a_phone(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    """At 390 px the children's Error column was past the screen's edge (cut mid-word in
    its scrolling table): on a phone a child's error shows under its name, whole."""
    server = quaero_server(env=PLUGIN_ENV)
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "fanout",
            "name": "all fail",
            "config": {"children": 3, "child_config": {"fail_rate": 1}, "child_max_attempts": 1},
        },
    )["id"]
    wait_status(server, job_id, "failed")
    [first, *_] = call(server, f"/api/jobs/{job_id}/children?status=failed")["items"]
    page.set_viewport_size(PHONE)
    page.goto(f"{server.url}/#/jobs/{job_id}?status=failed")
    live(page)
    row = page.locator(f'.children-table tr[data-job-id="{first["id"]}"]')
    inline = row.locator(".child-error-inline")
    inline.wait_for()
    assert inline.inner_text() == first["error"]
    box = inline.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert row.locator("td.col-error").is_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "operator-failed-children-390.png")
    # on a desktop the error has its column, and is not repeated under the name
    page.set_viewport_size(DESKTOP)
    assert row.locator("td.col-error").inner_text() == first["error"]
    assert inline.is_hidden()


def test_rollup_rate_and_sparkline(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "fanout",
            "name": "nested",
            "config": {
                "children": 4,
                "child_type": "fanout",
                "child_config": {"children": 150, "child_config": {"sleep_ms": 800}},
            },
        },
    )["id"]
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    live(page)
    rollup = page.locator("[data-testid=rollup]")
    rollup.get_by_text(re.compile(r"^604 jobs in the tree: ")).wait_for()
    # rate and ETA while it runs (the server's, or estimated from the live events)
    rate = page.locator("[data-testid=rate]")
    rate.wait_for()
    assert re.match(r"^[\d.,]+/(s|min) · ETA ", rate.inner_text()), rate.inner_text()
    # the sparkline fills from the live events: some interval counted finished children
    page.wait_for_function(
        "() => (document.querySelector('.sparkline')?.dataset.values || '')"
        ".split(',').some((v) => Number(v) > 0)"
    )
    label = page.locator(".sparkline").get_attribute("aria-label") or ""
    assert label.startswith("Children finished: "), label
    shot(page, artifacts_dir, "operator-rate-1366.png")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, artifacts_dir, "operator-rate-390.png")
    # the jobs table shows the running parent's rate and ETA too
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs")
    table_rate = page.locator(f'tr[data-job-id="{job_id}"] .rate-text')
    page.wait_for_function(
        "(id) => /\\/(s|min) · ETA /.test(document.querySelector("
        "`tr[data-job-id=\"${id}\"] .rate-text`)?.textContent || '')",
        arg=job_id,
    )
    assert table_rate.is_visible()
    shot(page, artifacts_dir, "operator-rate-jobs-1366.png")
    page.goto(f"{server.url}/#/jobs/{job_id}")
    head_status(page, "completed", timeout=90_000)
    rollup.get_by_text(
        "604 jobs in the tree: 0 pending, 0 running, 604 completed, 0 failed"
    ).wait_for()
    assert rate.is_hidden()


def test_workers_page(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    held = call(
        server, "/api/jobs", "POST", {"job_type": "steps", "config": {"total": 1, "hold": True}}
    )
    wait_status(server, held["id"], "running")
    # the registry learns of it on the worker's next heartbeat
    wait_until(
        lambda: call(server, "/api/workers")["items"][0]["running"] == 1, 20, "a slot in use"
    )
    worker = call(server, "/api/workers")["items"][0]
    page.set_viewport_size(DESKTOP)
    page.goto(server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workers").click()
    page.wait_for_url("**/#/workers")
    live(page)
    row = page.locator(f'tr[data-worker-id="{worker["id"]}"]')
    row.wait_for()
    summary = page.locator("[data-testid=workers-summary]")
    assert re.match(r"^1 live worker, 1 of 32 slots in use · serving .*steps", summary.inner_text())
    assert row.locator(".badge").inner_text() == "live"
    assert row.locator(".slots-text").inner_text() == "1 / 32"
    assert re.match(r"^[\d.]+ s ago$", row.locator(".heartbeat-age").inner_text())
    types = row.locator(".job-types").inner_text()
    assert "picky" in types and "steps" in types and "fanout" in types
    shot(page, artifacts_dir, "operator-workers-1366.png")

    # it refreshes: once the held job ends, no slot is in use
    call(server, f"/api/jobs/{held['id']}/cancel", "POST")
    row.locator(".slots-text").get_by_text("0 / 32").wait_for(timeout=20_000)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#conn").is_visible()
    # on a phone the job types move under the worker's id; the row fits its card
    assert "steps" in row.locator(".worker-types-inline").inner_text()
    wrap = page.locator(".workers-table").evaluate(
        "(t) => t.scrollWidth <= t.parentElement.clientWidth"
    )
    shot(page, artifacts_dir, "operator-workers-390.png")
    assert wrap
    # the id breaks after its colons only (it was cut into 4-letter pieces): no piece
    # of it (host, pid, tag) is split over two lines
    code = row.locator(".worker-id code")
    split = code.evaluate(
        """(c) => [...c.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).filter((n) => {
            const r = document.createRange(); r.selectNodeContents(n);
            return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1;
        }).map((n) => n.textContent)"""
    )
    assert split == [], split
    assert code.inner_text().replace("\n", "") == worker["id"]


def test_error_group_deeper_in_a_nested_tree(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env=PLUGIN_ENV)
    job_id = call(
        server,
        "/api/jobs",
        "POST",
        {
            "job_type": "fanout",
            "name": "deep failures",
            "config": {
                "children": 2,
                "child_type": "fanout",
                "child_config": {
                    "children": 3,
                    "child_max_attempts": 1,
                    "child_config": {"fail_rate": 1},
                },
            },
        },
    )["id"]
    wait_status(server, job_id, "failed")
    groups = call(server, f"/api/jobs/{job_id}/errors")["items"]
    leaf = next(g for g in groups if g["key"].startswith("RuntimeError: noop failed"))
    assert leaf["count"] == 6
    page.set_viewport_size(DESKTOP)
    page.goto(f"{server.url}/#/jobs/{job_id}")
    page.locator("[data-testid=rollup]").get_by_text(
        "8 jobs in the tree: 0 pending, 0 running, 0 completed, 8 failed"
    ).wait_for()
    assert page.locator("[data-testid=retry-failed]").inner_text() == "Retry 8 failed"
    row = page.locator(f'.errors-table tr[data-key="{leaf["key"]}"]')
    assert row.locator(".error-count").inner_text() == "6"
    row.get_by_role("button", name=re.compile("^View samples")).click()
    # no direct child has this error: the failures are grandchildren, linked from here
    hint = page.locator(".deeper-samples")
    hint.wait_for()
    assert hint.inner_text().startswith("Its 6 failed jobs are deeper in the tree, e.g. #")
    first = hint.get_by_role("link").first
    first.click()
    page.locator("[data-testid=own-progress]").wait_for()
    assert (
        "noop failed on purpose"
        in page.locator("[data-testid=own-progress] .error-text").inner_text()
    )
    shot(page, artifacts_dir, "operator-errors-deep-1366.png")
