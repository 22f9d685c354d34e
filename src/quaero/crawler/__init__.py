"""The crawler: engine-independent building blocks plus the crawl job types.

- :mod:`~quaero.crawler.urls` — ``normalize``, ``resolve``, ``UrlFilter``, ``SkipReason``;
- :mod:`~quaero.crawler.robots` — ``RobotsCache`` (robots.txt per origin, protego);
- :mod:`~quaero.crawler.fetch` — ``Fetcher``, ``FetchConfig``, ``FetchResult``, ``FetchError``
  (aiohttp, redirects, limits, politeness, SSRF guard in :mod:`~quaero.crawler.ssrf`);
- :mod:`~quaero.crawler.extract` — ``extract(html, url) -> ExtractedPage`` (selectolax →
  markdown via :mod:`~quaero.crawler.markdown`, metadata, links);
- :mod:`~quaero.crawler.jobs` / :mod:`~quaero.crawler.settings` — the ``crawl`` and
  ``crawl_url`` job types built on them.

Submodules are imported explicitly (nothing is imported here) so that importing one
piece does not pull in the network stack.
"""
