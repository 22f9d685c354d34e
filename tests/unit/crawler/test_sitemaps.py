"""Sitemap parsing: urlsets, indexes, namespaces, garbage."""

from __future__ import annotations

from quaero.crawler.sitemaps import parse_sitemap


def test_urlset_and_index() -> None:
    urlset = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc> https://a.org/1 </loc><lastmod>2024-01-01</lastmod></url>"
        b"<url><loc>https://a.org/2?x=1&amp;y=2</loc></url></urlset>"
    )
    assert parse_sitemap(urlset) == (["https://a.org/1", "https://a.org/2?x=1&y=2"], [])
    index = (
        b"<sitemapindex><sitemap><loc>https://a.org/s1.xml</loc></sitemap>"
        b"<sitemap><loc>https://a.org/s2.xml.gz</loc></sitemap></sitemapindex>"
    )
    assert parse_sitemap(index) == ([], ["https://a.org/s1.xml", "https://a.org/s2.xml.gz"])


def test_garbage_gives_nothing() -> None:
    for body in (b"", b"<html><body>not xml", b"\x00\x01", b"<urlset><url><loc>"):
        pages, sitemaps = parse_sitemap(body)
        assert sitemaps == [] and all(isinstance(p, str) for p in pages)
