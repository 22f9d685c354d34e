"""How fast the dashboard's pages show a big job, in headless Chromium (system browser).

Starts ``quaero serve`` (SQLite, workers in-process), runs a fan-out of ``--children``
children to completion, then opens each page ``--repeat`` times at 1366x768 and prints
the median time from navigation to the page showing its data:

- jobs page: the job's row with its final progress text;
- job page: the progress text, the counts and the first page of children;
- job page filtered to failed children (the red count's link), empty here;
- API page: the guide and the reference rendered.

    .venv/bin/python bench/console_pages.py --children 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from playwright.sync_api import sync_playwright
from ws_latency import http, start_server

CHROMIUM = os.environ.get("QUAERO_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    server = start_server(concurrency=32)
    try:
        job = http(
            "POST",
            f"{server.url}/api/jobs",
            {"job_type": "fanout", "name": "bench", "config": {"children": args.children}},
        )
        started = time.monotonic()
        while http("GET", f"{server.url}/api/jobs/{job['id']}")["overall_status"] != "completed":
            time.sleep(0.2)
        print(f"fan-out of {args.children:,} children done in {time.monotonic() - started:.1f} s")
        text = f"0 pending, 0 running, {args.children:,} completed, 0 failed"
        pages = {
            "jobs page": (
                "#/jobs",
                f'tr[data-job-id="{job["id"]}"] .progress-text >> text="{text}"',
            ),
            "job page": (f"#/jobs/{job['id']}", ".children-table tbody tr >> nth=24"),
            "job page, failed children": (
                f"#/jobs/{job['id']}?status=failed",
                'text="No failed children."',
            ),
            "API page": ("#/api", "#reference h2.tag-title >> nth=0"),
        }
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            for name, (hash_, ready) in pages.items():
                times = []
                for _ in range(args.repeat):
                    page.goto("about:blank")
                    t0 = time.monotonic()
                    page.goto(f"{server.url}/{hash_}")
                    page.locator(ready).wait_for(timeout=60_000)
                    times.append(time.monotonic() - t0)
                print(
                    f"{name:28} median {statistics.median(times) * 1000:6.0f} ms"
                    f"  (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)})"
                )
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
