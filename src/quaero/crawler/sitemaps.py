"""Seeding a crawl from sitemaps: ``/sitemap.xml``, sitemap indexes and robots.txt
``Sitemap:`` lines (https://www.sitemaps.org/protocol.html).

:func:`sitemap_urls` walks the sitemaps of the crawl's start origins breadth first (an
index lists more sitemaps; at most ``max_sitemaps`` are fetched) and returns the page URLs
they list, normalised and de-duplicated, up to ``limit``: the crawl spawns those in its
scope as pages, within its page budget.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from .fetch import Fetcher
from .robots import RobotsCache
from .urls import NormalizeOptions, host_of, resolve, try_normalize

__all__ = ["parse_sitemap", "sitemap_urls"]

MAX_SITEMAPS = 50


def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """``(page URLs, sitemap URLs)`` of a ``<urlset>`` or ``<sitemapindex>`` document (any
    namespace); ``([], [])`` for anything else. Never raises."""
    pages: list[str] = []
    sitemaps: list[str] = []
    try:
        for _, el in ET.iterparse(_Reader(body), events=("end",)):
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "loc" and el.text:
                pages.append(el.text.strip())
            elif tag == "sitemap":
                # a <loc> inside <sitemap> names another sitemap, not a page
                locs = [c.text.strip() for c in el if c.tag.rsplit("}", 1)[-1] == "loc" and c.text]
                for loc in locs:
                    if loc in pages:
                        pages.remove(loc)
                    sitemaps.append(loc)
                el.clear()
            elif tag == "url":
                el.clear()
    except ET.ParseError:
        pass
    return pages, sitemaps


class _Reader:
    """A file-like view of bytes for iterparse."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk


async def sitemap_urls(
    fetcher: Fetcher,
    start_urls: Iterable[str],
    *,
    robots: RobotsCache | None,
    limit: int,
    options: NormalizeOptions | None = None,
    max_sitemaps: int = MAX_SITEMAPS,
) -> list[str]:
    """Page URLs listed by the sitemaps of the start URLs' origins (see module doc)."""
    queue: list[str] = []
    for start in start_urls:
        origin = start.split("/", 3)
        base = "/".join(origin[:3]) + "/"
        if robots is not None:
            rules = await robots.rules_for(base)
            queue.extend(u for u in (resolve(base, s) for s in rules.sitemaps) if u)
        default = resolve(base, "/sitemap.xml")
        if default:
            queue.append(default)
    hosts = {host_of(u) for u in start_urls}
    fetched: set[str] = set()
    found: dict[str, None] = {}
    while queue and len(fetched) < max_sitemaps and len(found) < limit:
        url = queue.pop(0)
        if url in fetched or host_of(url) not in hosts:
            continue
        fetched.add(url)
        body = await fetcher.fetch_sitemap(url)
        if not body:
            continue
        pages, more = parse_sitemap(body)
        queue.extend(u for u in (resolve(url, m) for m in more) if u)
        for page in pages:
            norm = try_normalize(page, options)
            if norm is not None:
                found.setdefault(norm)
                if len(found) >= limit:
                    break
    return list(found)
