"""The dashboard in headless Chromium against a real ``quaero serve`` subprocess.

The Progress column must move live (WebSocket, no reload, no polling) and recover after
the server restarts (disconnected → reconnected → resumed from the last seq).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ServerProcess

pytestmark = pytest.mark.browser

# Records every distinct text of one row's Progress cell, and proves the page never reloads.
WATCH_PROGRESS = """
(jobId) => {
  window.__noReload = true;
  window.__texts = [];
  const read = () => {
    const el = document.querySelector(`tr[data-job-id="${jobId}"] .progress-text`);
    const text = el ? el.textContent : null;
    if (text && text !== window.__texts[window.__texts.length - 1]) window.__texts.push(text);
  };
  read();
  new MutationObserver(read).observe(document.querySelector(".jobs-table"), {
    subtree: true, childList: true, characterData: true,
  });
}
"""


def post_job(server: ServerProcess, children: int, sleep_ms: int, name: str) -> int:
    body = {
        "job_type": "fanout",
        "name": name,
        "config": {"children": children, "child_config": {"sleep_ms": sleep_ms}},
    }
    req = urllib.request.Request(
        f"{server.url}/api/jobs",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["id"])


def final_text(n: int) -> str:
    return f"0 pending, 0 running, {n} completed, 0 failed"


def cell_text_is(page: Any, job_id: int, text: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        """([id, text]) => {
            const el = document.querySelector(`tr[data-job-id="${id}"] .progress-text`);
            return el && el.textContent === text;
        }""",
        arg=[job_id, text],
        timeout=timeout,
    )


def conn_state_in(page: Any, states: list[str], timeout: float = 30_000) -> None:
    page.wait_for_function(
        "(states) => states.includes(document.getElementById('conn').dataset.state)",
        arg=states,
        timeout=timeout,
    )


def test_progress_column_moves_live(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env={"QUAERO_WORKER_CONCURRENCY": "16"})
    page.goto(server.url)
    page.get_by_role("button", name="Run a demo job").first.wait_for()
    conn_state_in(page, ["live"])
    list_requests: list[str] = []
    page.on("request", lambda r: list_requests.append(r.url) if "/api/jobs?" in r.url else None)

    job_id = post_job(server, 300, 100, "e2e live progress")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.wait_for()  # appeared without a reload (job_created over the WebSocket)
    page.evaluate(WATCH_PROGRESS, job_id)
    cell_text_is(page, job_id, final_text(300))

    texts = page.evaluate("window.__texts")
    assert page.evaluate("window.__noReload") is True, "the page was reloaded"
    assert len(texts) >= 5, f"the Progress cell changed only {len(texts)} times: {texts}"
    assert texts[-1] == final_text(300)
    completed = [int(t.split(", ")[2].split()[0]) for t in texts]
    assert completed == sorted(completed), f"progress went backwards: {texts}"
    assert row.locator(".badge").inner_text() == "completed"
    # it came over the WebSocket: far fewer list requests than progress updates
    assert len(list_requests) < len(texts), list_requests
    page.screenshot(
        path=str(artifacts_dir / "e2e-jobs-page.png"), full_page=True, animations="disabled"
    )


def test_recovers_after_server_restart(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env={"QUAERO_WORKER_CONCURRENCY": "16"})
    page.goto(server.url)
    conn_state_in(page, ["live"])
    job_id = post_job(server, 300, 250, "e2e restart")
    page.locator(f'tr[data-job-id="{job_id}"]').wait_for()
    page.evaluate(WATCH_PROGRESS, job_id)
    page.wait_for_function(
        """(id) => {
            const el = document.querySelector(`tr[data-job-id="${id}"] .progress-text`);
            return el && / ([1-9]\\d*) completed/.test(el.textContent);
        }""",
        arg=job_id,
    )

    server.stop()  # the WebSocket drops
    conn_state_in(page, ["offline", "reconnecting"])
    assert page.locator("#banner").is_visible()
    assert "disconnected" in page.locator("#banner").inner_text().lower()
    page.screenshot(
        path=str(artifacts_dir / "e2e-jobs-page-disconnected.png"), animations="disabled"
    )

    server.start()  # same port, same database: the page reconnects and resumes
    conn_state_in(page, ["live"], timeout=60_000)
    cell_text_is(page, job_id, final_text(300), timeout=90_000)
    assert page.locator("#banner").is_hidden()
    assert page.evaluate("window.__noReload") is True, "the page was reloaded"
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    page.wait_for_function(
        """(id) => document.querySelector(`tr[data-job-id="${id}"] .badge`)
                     .textContent === 'completed'""",
        arg=job_id,
    )
    assert row.locator(".badge").inner_text() == "completed"
    page.screenshot(
        path=str(artifacts_dir / "e2e-jobs-page-after-restart.png"),
        full_page=True,
        animations="disabled",
    )


def test_demo_button_and_job_page(
    page: Any, quaero_server: Callable[..., ServerProcess], artifacts_dir: Path
) -> None:
    server = quaero_server(env={"QUAERO_WORKER_CONCURRENCY": "8"})
    page.goto(server.url)
    page.locator(".empty").get_by_role("button", name="Run a demo job").click()
    link = page.locator("tr[data-job-id] .col-name a")
    link.wait_for()
    link.click()
    page.wait_for_url("**/#/jobs/*")
    conn_state_in(page, ["live"])
    progress = page.locator("[data-testid=job-progress]")
    page.wait_for_function(
        "() => / [1-9]\\d* completed/.test(document.querySelector('[data-testid=job-progress]')"
        ".textContent)"
    )
    # the children list loads on its own (a second request once the first children
    # exist): wait for its rows, do not count them at the moment a count moved
    page.locator(".children-table tbody tr").first.wait_for()
    page.wait_for_function(
        "(t) => document.querySelector('[data-testid=job-progress]').textContent === t",
        arg=final_text(200),
        timeout=60_000,
    )
    assert progress.inner_text() == final_text(200)
    # the live log tail received the final progress line and the parent's completion
    log = page.locator(".log-list")
    log.get_by_text("Status changed: completed").wait_for()
    assert final_text(200) in log.inner_text()
    page.locator(".page-head .badge").get_by_text("completed").wait_for()
    page.screenshot(
        path=str(artifacts_dir / "e2e-job-page.png"), full_page=True, animations="disabled"
    )

    # a phone-sized screen still shows the Progress column
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/#/jobs")
    page.locator("tr[data-job-id] .progress-text").wait_for()
    assert page.locator("th.col-progress").is_visible()
    page.screenshot(
        path=str(artifacts_dir / "e2e-jobs-page-phone.png"), full_page=True, animations="disabled"
    )


def test_new_job_form_and_bad_config(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server()
    page.goto(f"{server.url}/#/new")
    page.get_by_label("Job type").select_option("fanout")
    page.get_by_label("Name").fill("from the form")
    config = page.get_by_label("Config (JSON object)")
    config.fill('{"children": "many"}')
    page.get_by_role("button", name="Start job").click()
    page.get_by_role("alert").get_by_text("children must be an integer").wait_for()
    config.fill("{not json")
    page.get_by_role("button", name="Start job").click()
    page.get_by_role("alert").get_by_text("not valid JSON").wait_for()
    config.fill('{"children": 3}')
    page.get_by_role("button", name="Start job").click()
    page.wait_for_url("**/#/jobs/*")
    page.get_by_role("heading", name="from the form").wait_for()
    page.wait_for_function(
        "(t) => document.querySelector('[data-testid=job-progress]').textContent === t",
        arg=final_text(3),
    )


def test_api_reference_page(page: Any, quaero_server: Callable[..., ServerProcess]) -> None:
    server = quaero_server("--no-workers")
    page.goto(f"{server.url}/docs")
    page.get_by_role("heading", name="jobs", exact=True).wait_for()
    page.locator("#post-api-jobs").get_by_text("Request body (JSON)").wait_for()
    assert page.locator("#get-api-jobs").get_by_text("order_by").count() >= 1


def test_token_is_asked_once_and_kept(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server("--no-workers", env={"QUAERO_API_TOKEN": "e2e-secret"})
    post = urllib.request.Request(
        f"{server.url}/api/jobs",
        data=b'{"job_type": "noop", "name": "guarded"}',
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer e2e-secret"},
    )
    urllib.request.urlopen(post, timeout=10).close()
    page.goto(server.url)
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_label("API token").fill("e2e-secret")
    dialog.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="guarded").wait_for()
    conn_state_in(page, ["live"])  # the WebSocket got the token too
    page.reload()
    page.get_by_role("link", name="guarded").wait_for()  # kept in localStorage
    assert not page.get_by_role("dialog").is_visible()
