"""Benchmark quaero.crawler.extract over a folder of HTML pages.

Usage::

    .venv/bin/python bench/extract_bench.py [DIR] [--repeat N] [--profile]

DIR defaults to /usr/share/doc/postgresql-doc-15/html; when it does not
exist, 1,000 generated pages are used. Prints pages/s and ms/page for the
full ``extract`` (parse, metadata, links, boilerplate removal, markdown) and,
for reference, for the Lexbor parse alone. One CPU core, no I/O in the loop
(files are read and decoded first).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from quaero.crawler.extract import extract

DEFAULT_DIR = Path("/usr/share/doc/postgresql-doc-15/html")


def _generated(n: int = 1000) -> list[tuple[str, str]]:
    pages = []
    for i in range(n):
        body = "".join(
            f"<h2>Section {j}</h2><p>Paragraph {j} of page {i} with <a href='p{(i + j) % n}.html'>"
            f"a link</a>, <code>inline_code()</code> and <em>emphasis</em>.</p>"
            f"<ul><li>item one</li><li>item two <b>bold</b></li></ul>"
            f"<pre class='programlisting'>SELECT {j} FROM t WHERE x = {i};</pre>"
            for j in range(12)
        )
        html = (
            f"<html lang='en'><head><title>Page {i}</title></head><body>"
            f"<div class='navheader'><a href='index.html'>Home</a></div>"
            f"<div class='sect1'><h1>Page {i}</h1>{body}</div>"
            f"<div class='navfooter'><a href='p{i + 1}.html'>Next</a></div></body></html>"
        )
        pages.append((f"http://bench.local/p{i}.html", html))
    return pages


def load(folder: Path) -> list[tuple[str, str]]:
    """Read every *.html file of ``folder`` as (url, text)."""
    if not folder.is_dir():
        print(f"{folder} not found; using generated pages", file=sys.stderr)
        return _generated()
    pages = []
    for path in sorted(folder.glob("*.html")):
        text = path.read_bytes().decode("utf-8", errors="replace")
        pages.append((f"https://www.postgresql.org/docs/15/{path.name}", text))
    return pages


def run(pages: list[tuple[str, str]], repeat: int) -> list[float]:
    """Time ``extract`` over all pages ``repeat`` times; return seconds per round."""
    rounds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for url, html in pages:
            extract(html, url)
        rounds.append(time.perf_counter() - t0)
    return rounds


def main() -> None:
    """Entry point."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    pages = load(args.folder)
    total_bytes = sum(len(h.encode()) for _, h in pages)
    print(
        f"{len(pages)} pages, {total_bytes / 1e6:.1f} MB, mean {total_bytes / len(pages) / 1024:.1f} KiB/page"
    )
    run(pages[:50], 1)  # warm-up
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(pages, 1)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        return
    rounds = run(pages, args.repeat)
    best = min(rounds)
    t0 = time.perf_counter()
    for _, html in pages:
        LexborHTMLParser(html)
    parse = time.perf_counter() - t0
    words = sum(extract(h, u).word_count for u, h in pages[:200])
    print(
        f"extract: {len(pages) / best:.0f} pages/s, {best / len(pages) * 1000:.2f} ms/page "
        f"(best of {len(rounds)}; median {len(pages) / statistics.median(rounds):.0f} pages/s)"
    )
    print(f"parse only: {len(pages) / parse:.0f} pages/s, {parse / len(pages) * 1000:.2f} ms/page")
    print(f"mean words/page (first 200): {words / min(200, len(pages)):.0f}")


if __name__ == "__main__":
    main()
