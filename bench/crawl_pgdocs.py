"""Crawl benchmark: postgresql-doc-15 (1,169 pages) served by nginx on 127.0.0.1.

Runs the real CLI (``quaero crawl ... --json``) on a fresh SQLite store for each
concurrency and prints pages/s, CPU per page (user+sys of the crawl process) and peak
RSS. Every page is a durable job (claimed, leased, logged, evented) and a markdown
document in the FTS index. ``--scrapy`` runs Scrapy on the same server with the same
per-page work (markdownify on BeautifulSoup, as in DESIGN.md), from a separate venv it
creates at /tmp/quaero-scrapy-venv. ``--profile`` prints where the CPU time goes.

    .venv/bin/python bench/crawl_pgdocs.py --concurrency 1 4 16 [--scrapy] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUAERO = str(Path(sys.executable).with_name("quaero"))
DOCS = Path(os.environ.get("QUAERO_PG_DOCS", "/usr/share/doc/postgresql-doc-15/html"))
SCRAPY_VENV = Path("/tmp/quaero-scrapy-venv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nginx() -> tuple[str, str]:
    port = free_port()
    pidfile = subprocess.run(
        [str(ROOT / "scripts" / "nginx-serve.sh"), str(DOCS), str(port)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"http://127.0.0.1:{port}", pidfile


def run_quaero(base: str, concurrency: int) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="quaero-crawl-bench-")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(
        [
            QUAERO,
            "--db",
            f"sqlite:///{tmp}/q.db",
            "crawl",
            f"{base}/index.html",
            "--depth",
            "50",
            "--max-pages",
            "5000",
            "--concurrency",
            str(concurrency),
            "--allow-private-networks",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode != 0:
        raise SystemExit(f"crawl failed: {p.stderr[-2000:]}")
    s = json.loads(p.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "documents": s["documents"],
        "failed": s["failed"],
        "crawl_s": s["seconds"],
        "pages_per_s": s["documents"] / s["seconds"],
        "wall_s": wall,
        "cpu_ms_per_page": cpu / max(1, s["documents"]) * 1000,
        "peak_rss_mb": after.ru_maxrss / 1024,
    }


SPIDER = r"""
import time, scrapy
from bs4 import BeautifulSoup
from markdownify import MarkdownConverter
class Docs(scrapy.Spider):
    name = "docs"
    custom_settings = {"LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": False, "HTTPCACHE_ENABLED": False,
                       "TELNETCONSOLE_ENABLED": False}
    allowed_domains = ["127.0.0.1"]   # same scope as quaero's same-host default
    def __init__(self, start, **kw):
        super().__init__(**kw); self.start_urls = [start]; self.pages = 0
    def parse(self, response):
        soup = BeautifulSoup(response.text, "html.parser")
        md = MarkdownConverter().convert_soup(soup)
        self.pages += 1
        yield {"url": response.url, "title": soup.title.string if soup.title else "", "len": len(md)}
        for href in response.css("a::attr(href)").getall():
            if href.startswith(("mailto:", "javascript:", "tel:", "ftp:")):
                continue
            yield response.follow(href, self.parse)
"""


def run_scrapy(base: str, concurrency: int) -> dict[str, float]:
    if not (SCRAPY_VENV / "bin" / "scrapy").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SCRAPY_VENV)], check=True)
        subprocess.run(
            [
                str(SCRAPY_VENV / "bin" / "pip"),
                "install",
                "-q",
                "scrapy",
                "markdownify",
                "beautifulsoup4",
            ],
            check=True,
        )
    work = Path(tempfile.mkdtemp(prefix="scrapy-bench-"))
    (work / "spider.py").write_text(SPIDER)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(
        [
            str(SCRAPY_VENV / "bin" / "scrapy"),
            "runspider",
            str(work / "spider.py"),
            "-a",
            f"start={base}/index.html",
            "-s",
            f"CONCURRENT_REQUESTS={concurrency}",
            "-s",
            f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
            "-s",
            "DOWNLOAD_DELAY=0",
            "-s",
            "AUTOTHROTTLE_ENABLED=False",
            "-s",
            "DEPTH_LIMIT=50",
            "-o",
            str(work / "out.jsonl"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=work,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = work / "out.jsonl"
    pages = len(out.read_text().splitlines()) if out.exists() else 0
    shutil.rmtree(work, ignore_errors=True)
    if p.returncode != 0:
        raise SystemExit(f"scrapy failed: {p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "documents": pages,
        "failed": 0,
        "crawl_s": wall,
        "pages_per_s": pages / wall,
        "wall_s": wall,
        "cpu_ms_per_page": cpu / max(1, pages) * 1000,
        "peak_rss_mb": after.ru_maxrss / 1024,
    }


def profile(base: str, concurrency: int) -> None:
    """Run one crawl in-process under cProfile and print the top self-time functions."""
    import asyncio
    import cProfile
    import pstats

    from quaero import App, Settings
    from quaero.crawler.jobs import register

    async def go() -> None:
        tmp = tempfile.mkdtemp()
        s = Settings()
        s.store.url = f"sqlite:///{tmp}/q.db"
        app = App(s)
        register(app)
        async with app:
            w = app.worker(concurrency=concurrency)
            await w.start()
            job = await app.submit(
                "crawl",
                {
                    "start_urls": [f"{base}/index.html"],
                    "max_depth": 50,
                    "max_pages": 5000,
                    "allow_private_networks": True,
                    "concurrency": concurrency,
                },
            )
            await app.wait(job.id, timeout=600)
            await w.stop()

    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(go())
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--scrapy", action="store_true", help="also run Scrapy (same work) beside it")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if not (DOCS / "index.html").is_file():
        raise SystemExit(
            f"{DOCS} missing: apt-get install postgresql-doc-15 (scripts/install-system-deps.sh)"
        )
    base, pidfile = start_nginx()
    try:
        print("system,concurrency,documents,failed,crawl_s,pages_per_s,cpu_ms_per_page,peak_rss_mb")
        for c in args.concurrency:
            for _ in range(args.reps):
                runs = [("quaero", run_quaero)] + ([("scrapy", run_scrapy)] if args.scrapy else [])
                for name, fn in runs:
                    r = fn(base, c)
                    print(
                        f"{name},{c},{r['documents']},{r['failed']},{r['crawl_s']:.2f},"
                        f"{r['pages_per_s']:.1f},{r['cpu_ms_per_page']:.2f},{r['peak_rss_mb']:.0f}",
                        flush=True,
                    )
        if args.profile:
            profile(base, max(args.concurrency))
    finally:
        os.kill(int(Path(pidfile).read_text().strip()), signal.SIGTERM)


if __name__ == "__main__":
    main()
