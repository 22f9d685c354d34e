"""The crawler in the dashboard: headless Chromium against a real ``quaero serve``.

A crawl of the generated local site (tests/support/site.py, in a thread) is started from
the New crawl form, followed live in the jobs table, its documents searched and one read
with its markdown rendered; its job page lists the failed URLs with their reasons.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.site import SiteThread, TestSite

from ..conftest import ServerProcess

pytestmark = pytest.mark.browser

# Records every distinct text of the crawl row's Docs and Progress cells (no reload).
WATCH_ROW = """
(jobId) => {
  window.__noReload = true;
  window.__docs = [];
  window.__progress = [];
  const push = (list, value) => {
    if (value !== null && value !== list[list.length - 1]) list.push(value);
  };
  const read = () => {
    const row = document.querySelector(`tr[data-job-id="${jobId}"]`);
    if (!row) return;
    push(window.__docs, row.querySelector(".docs-cell").textContent);
    push(window.__progress, row.querySelector(".progress-text").textContent);
  };
  read();
  new MutationObserver(read).observe(document.querySelector(".jobs-table"), {
    subtree: true, childList: true, characterData: true,
  });
}
"""


@pytest.fixture
def site() -> Iterator[TestSite]:
    with SiteThread(TestSite(n_pages=60, slow_delay=0.05)) as s:
        yield s


def get_json(server: ServerProcess, path: str) -> Any:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as r:
        return json.loads(r.read())


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / name), full_page=True, animations="disabled")


def test_crawl_from_the_form_to_documents(
    page: Any,
    quaero_server: Callable[..., ServerProcess],
    site: TestSite,
    artifacts_dir: Path,
) -> None:
    server = quaero_server(env={"QUAERO_WORKER_CONCURRENCY": "8"})
    page.goto(server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New crawl").click()
    page.get_by_role("heading", name="New crawl").wait_for()

    # ---- the form: a server-side validation error is shown next to its field
    page.get_by_label("Start URLs").fill(site.url("/"))
    page.get_by_label("Max depth").fill("1")
    page.get_by_label("Max pages").fill("200")
    page.get_by_label("Concurrency").fill("4")
    # one host, 0.15 s apart: slow enough to watch the row move
    page.get_by_label("Delay (seconds)").fill("0.15")
    page.get_by_label("Include patterns").fill("(")
    page.get_by_label("Allow private networks").check()
    assert page.get_by_label("Follow robots.txt").is_checked()
    page.get_by_role("button", name="Start job").click()
    field_error = page.locator("#crawl-include_patterns-error")
    field_error.get_by_text("invalid regular expression").wait_for()
    assert page.get_by_label("Include patterns").get_attribute("aria-invalid") == "true"
    page.locator(".notice-error").get_by_text("Could not start the job").wait_for()
    shot(page, artifacts_dir, "e2e-crawl-form-error.png")

    page.get_by_label("Include patterns").fill("")
    page.get_by_role("button", name="Start job").click()
    page.wait_for_url(re.compile(r".*#/jobs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])

    # ---- the crawl's job page while it runs
    panel = page.locator(".crawl-panel")
    panel.get_by_role("heading", name="Crawl").wait_for()
    panel.locator("[data-testid=crawl-discovery]").get_by_text("Discovery open").wait_for()

    # ---- the jobs table: Progress and Docs move live to completion
    page.get_by_role("link", name="← Jobs").click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.wait_for()
    page.evaluate(WATCH_ROW, job_id)
    row.locator(".badge[data-status=failed]").wait_for(timeout=90_000)  # 404, too large
    final = get_json(server, f"/api/jobs/{job_id}")
    assert final["crawl"]["discovery_open"] is False
    page.wait_for_function(
        """([id, n]) => document.querySelector(`tr[data-job-id="${id}"] .docs-cell`)
                          .textContent === n""",
        arg=[job_id, f"{final['result_count']:,}"],
    )
    docs = page.evaluate("window.__docs")
    progress = page.evaluate("window.__progress")
    assert page.evaluate("window.__noReload") is True
    assert len(docs) >= 3, f"the Docs cell changed only {docs}"
    counts = [int(d.replace(",", "")) for d in docs]
    # live increments only go up; the last value is the stored count, shown once the crawl
    # is finished (it corrects a document counted twice because it was saved while the
    # listing was read, a window of a few milliseconds)
    assert counts[:-1] == sorted(counts[:-1]), f"the document count went backwards: {docs}"
    assert counts[-2] <= counts[-1] + 1, f"the stored count is far below the live one: {docs}"
    assert len(progress) >= 3, f"the Progress cell changed only {progress}"
    c = final["children"]
    assert progress[-1] == (
        f"0 pending, 0 running, {c['completed']} completed, {c['failed']} failed"
    )
    shot(page, artifacts_dir, "e2e-crawl-jobs-page.png")

    # ---- the documents page: search, then read one document
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Documents").click()
    page.get_by_role("heading", name="Documents", exact=True).wait_for()
    page.get_by_label("Search documents").fill("omicron")  # live: no submit needed
    page.get_by_role("status").get_by_text(re.compile(r"\d+ results? for “omicron”")).wait_for()
    results = page.locator(".doc-result")
    assert results.count() > 0
    assert results.first.locator(".snippet mark").first.inner_text() == "omicron"
    shot(page, artifacts_dir, "e2e-documents-search.png")
    title = results.first.locator("h2 a").inner_text()
    results.first.locator("h2 a").click()
    page.wait_for_url(re.compile(r".*#/documents/\d+$"))
    page.get_by_role("heading", name=title, level=1).first.wait_for()
    article = page.locator("article.markdown")
    article.locator("h1, h2").first.wait_for()  # the page's markdown headings, rendered
    assert article.locator("h2", has_text="Links").count() == 1
    hrefs = article.locator("a").evaluate_all("(links) => links.map((a) => a.href)")
    assert all(h.startswith("http://127.0.0.1") for h in hrefs), hrefs
    assert article.locator("script").count() == 0
    shot(page, artifacts_dir, "e2e-document-view.png")
    page.get_by_role("button", name="Show markdown source").click()
    assert "## Links" in page.locator("pre.markdown-source").inner_text()

    # ---- the crawl's job page when done: counts, failed URLs with their reasons
    page.goto(f"{server.url}/#/jobs/{job_id}")
    panel = page.locator(".crawl-panel")
    panel.locator("[data-testid=crawl-discovery]").get_by_text("Discovery closed").wait_for()
    summary = final["crawl"]
    for key in ("discovered", "completed", "failed", "skipped", "documents"):
        assert panel.locator(f"[data-testid=crawl-{key}]").inner_text() == f"{summary[key]:,}"
    assert "robots" in panel.locator("[data-testid=crawl-skipped-reasons]").inner_text()
    failures = panel.locator(".failures-table tbody tr")
    failures.first.wait_for()
    assert failures.count() == summary["failed"]
    by_url = {
        failures.nth(i).locator("td").nth(0).inner_text(): failures.nth(i)
        for i in range(failures.count())
    }
    # 404 pages are broken links and oversized pages skips: only real failures are listed
    expected = {u: r for u, r in site.expected(max_depth=1).failed.items() if r == "redirect_loop"}
    assert (
        expected and {u: by_url[u].locator("td").nth(1).inner_text() for u in expected} == expected
    )
    assert site.url("/missing.html") not in by_url and site.url("/huge.html") not in by_url
    assert "too large" in panel.locator("[data-testid=crawl-skipped-reasons]").inner_text()
    shot(page, artifacts_dir, "e2e-crawl-job-page.png")

    # ---- its documents, from the job page; and the same pages on a phone
    panel.get_by_role("link", name="Browse its documents").click()
    page.get_by_role("status").get_by_text(f"{summary['documents']} documents").wait_for()
    assert page.locator(".crumbs").get_by_role("link", name=f"#{job_id}").count() == 1
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, artifacts_dir, "e2e-documents-phone.png")
    page.goto(f"{server.url}/#/jobs/{job_id}")
    page.locator(".failures-table tbody tr").first.wait_for()
    assert page.locator("[data-testid=crawl-failed]").is_visible()
    shot(page, artifacts_dir, "e2e-crawl-job-page-phone.png")


UNSAFE_MARKDOWN = """# Title *one*

Text with **bold**, *em*, `code <b>`, ~~gone~~ and pg_stat_activity.
A line break.

<script>window.__pwned = 1</script>
<img src=x onerror="window.__pwned = 2">

- [relative](../b.html)
- [bad](javascript:window.__pwned=3)
  - nested **item**
- ![an image](https://example.com/i.png)

1. first
2. second

```python
print("<b>not bold</b>")
```

> quoted *text*

| a | b \\| c |
| --- | ---: |
| 1 | <i>2</i> |

---
<https://example.com/auto>

Term
: its *definition*
"""


def test_markdown_renderer_is_safe(page: Any, quaero_server: Callable[..., ServerProcess]) -> None:
    server = quaero_server("--no-workers")
    page.goto(server.url)
    page.get_by_role("heading", name="Jobs", exact=True).wait_for()
    out = page.evaluate(
        """async (md) => {
            const { renderMarkdown } = await import("/static/js/markdown.js");
            const box = document.createElement("div");
            box.append(renderMarkdown(md, "https://example.com/a/page.html"));
            document.getElementById("view").append(box);
            const q = (s) => [...box.querySelectorAll(s)];
            return {
                tags: [...new Set(q("*").map((e) => e.tagName.toLowerCase()))].sort(),
                links: q("a").map((a) => [a.textContent, a.getAttribute("href")]),
                h1: q("h1").map((e) => e.innerHTML),
                code: q("pre code").map((e) => [e.className, e.textContent]),
                cells: q("td, th").map((e) => e.textContent),
                attrs: q("*").flatMap((e) => e.getAttributeNames()),
                text: box.textContent,
                pwned: window.__pwned || null,
            };
        }""",
        UNSAFE_MARKDOWN,
    )
    assert out["pwned"] is None
    assert not {"script", "img", "b", "i"} & set(out["tags"]), out["tags"]
    assert {
        "h1",
        "strong",
        "em",
        "code",
        "del",
        "ul",
        "ol",
        "pre",
        "blockquote",
        "table",
        "dl",
    } <= set(out["tags"])
    assert not [a for a in out["attrs"] if a.startswith("on")]
    assert out["h1"] == ["Title <em>one</em>"]
    assert out["links"] == [
        ["relative", "https://example.com/b.html"],
        ["[image: an image]", "https://example.com/i.png"],
        ["https://example.com/auto", "https://example.com/auto"],
    ]
    assert "[bad](javascript:" not in out["text"] and "bad" in out["text"]
    assert out["code"] == [["language-python", 'print("<b>not bold</b>")']]
    assert out["cells"] == ["a", "b | c", "1", "<i>2</i>"]
    assert "pg_stat_activity" in out["text"]  # no emphasis inside words
    assert "<script>window.__pwned = 1</script>" in out["text"]  # shown as text


def test_markdown_renderer_stays_fast_on_hostile_input(
    page: Any, quaero_server: Callable[..., ServerProcess]
) -> None:
    server = quaero_server("--no-workers")
    page.goto(server.url)
    page.get_by_role("heading", name="Jobs", exact=True).wait_for()
    took = page.evaluate(
        """async () => {
            const { renderMarkdown } = await import("/static/js/markdown.js");
            const md = "[".repeat(50000) + " " + "*a _b `c ".repeat(20000) + "\\n" +
                "- item\\n\\n".repeat(5000) + ">".repeat(5000) + " deep\\n" +
                "| a | b |\\n| - | - |\\n" + "| 1 | 2 |\\n".repeat(5000);
            const t0 = performance.now();
            const box = document.createElement("div");
            box.append(renderMarkdown(md, "https://example.com/"));
            return performance.now() - t0;
        }"""
    )
    assert took < 2000, f"rendering took {took:.0f} ms"  # linear: about 0.2 s here
