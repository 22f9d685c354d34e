"""Shortest link distances of a crawl's URLs, whatever order pages are fetched in.

A page's depth is its shortest link distance from a start URL (redirects, meta refreshes
and canonical links add no depth). Pages finish in any order, so a URL first found through
a long path may later be found through a shorter one: :class:`Frontier` keeps each URL's
best known depth and each fetched page's out-links, and when a depth drops it relaxes the
URLs reachable from it (Bellman-Ford style). What it returns is what must be spawned: new
URLs, and URLs whose depth dropped (a pending page then runs at its new depth; a fetched
page's links are re-expanded here, so pages a depth limit had cut off are reached).

It is per process (the crawl's runtime) and knows only the pages this process fetched.
What it finds is made durable by the crawler (``_spawn`` in ``jobs.py``): a shorter
depth of a page that has a job already goes to the store
(:meth:`~quaero.store.base.Store.lower_page_depths`), so a crawl resumed after a restart,
or run by several processes, follows the same links.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Frontier"]


class Frontier:
    """Best known depth per URL, and out-links per fetched page."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self._depth: dict[str, int] = {}
        self._edges: dict[str, tuple[tuple[int, tuple[str, ...]], ...]] = {}

    def depth_of(self, url: str) -> int | None:
        """The best known depth of ``url`` (``None`` when never seen)."""
        return self._depth.get(url)

    def fetched(self, url: str) -> bool:
        """Whether ``url``'s links were recorded (the page was fetched here)."""
        return url in self._edges

    def visit(self, url: str, depth: int) -> int:
        """A page is about to be fetched with ``depth`` from its job: return the best
        known depth (it may have dropped since the job was created)."""
        best = self._depth.get(url)
        if best is None or depth < best:
            self._depth[url] = depth
            return depth
        return best

    def expand(
        self, url: str, groups: Sequence[tuple[int, Sequence[str]]]
    ) -> dict[str, tuple[int, str]]:
        """Record the out-links of fetched page ``url`` as ``(weight, targets)`` groups
        (weight 1 for links, 0 for redirects/refresh/canonical) and return
        ``{target: (depth, from_url)}`` for every URL that is new or got a smaller depth,
        transitively. Links of a page at ``max_depth`` or deeper are kept but not followed."""
        self._edges[url] = tuple((w, tuple(ts)) for w, ts in groups)
        if url not in self._depth:
            self._depth[url] = 0
        out: dict[str, tuple[int, str]] = {}
        work = [url]
        while work:
            u = work.pop()
            du = self._depth[u]
            for weight, targets in self._edges.get(u, ()):
                if weight and du >= self.max_depth:
                    continue
                nd = du + weight
                for t in targets:
                    cur = self._depth.get(t)
                    if cur is None or nd < cur:
                        self._depth[t] = nd
                        out[t] = (nd, u)
                        if t in self._edges:
                            work.append(t)
        return out
