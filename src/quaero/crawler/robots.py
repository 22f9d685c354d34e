"""robots.txt: fetched once per origin, parsed with protego, cached.

:class:`RobotsCache` is given an async ``fetch(robots_url) -> RobotsResponse``
function (normally :meth:`quaero.crawler.fetch.Fetcher.fetch_robots`, any
coroutine in tests) and the crawler's user agent. Concurrent callers asking
about the same origin share one in-flight fetch, so robots.txt is requested
once per origin (``scheme://host:port``).

Status handling (documented choice, simpler than Google's):

* 2xx — parse the body; rules for the best-matching user-agent group apply;
* 4xx (404, 403, 410, ...) — no robots.txt: everything allowed (RFC 9309);
* 5xx, 429, timeouts, connection errors — *unreachable*: everything
  allowed, logged at WARNING, and cached only for ``error_ttl`` seconds
  (default 300) so a later request tries again. (Google instead treats 5xx
  as a temporary full disallow; we prefer not to stall a crawl on a broken
  robots.txt, and the per-host politeness delay still applies.)

Successful and 4xx results are cached for ``ttl`` seconds (default 24 h,
``None`` = forever), in an LRU bounded by ``max_origins``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from protego import Protego

from .. import shutdown
from ..shutdown import cancel_and_wait

__all__ = [
    "RobotsCache",
    "RobotsFetch",
    "RobotsResponse",
    "RobotsRules",
    "robots_directives",
    "robots_url",
]

log = logging.getLogger(__name__)

RobotsState = Literal["ok", "missing", "unreachable"]


@dataclass(frozen=True, slots=True)
class RobotsResponse:
    """What a robots fetch function returns: the final status and decoded body."""

    status: int
    text: str = ""


RobotsFetch = Callable[[str], Awaitable[RobotsResponse]]


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """The parsed robots.txt of one origin, for one user agent."""

    origin: str
    user_agent: str
    state: RobotsState
    parser: Protego | None = field(default=None, repr=False)
    error: str | None = None

    def allowed(self, url: str) -> bool:
        """True when ``url`` (on this origin) may be fetched."""
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, self.user_agent))

    @property
    def crawl_delay(self) -> float | None:
        """``Crawl-delay`` (seconds) of the matching group, else ``None``.

        A ``Request-rate: n/s`` line is converted to ``s/n`` seconds when no
        ``Crawl-delay`` is given.
        """
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(self.user_agent)
        if delay is not None:
            return float(delay)
        rate = self.parser.request_rate(self.user_agent)
        if rate is not None and rate.requests:
            return float(rate.seconds) / float(rate.requests)
        return None

    @property
    def sitemaps(self) -> list[str]:
        """``Sitemap:`` URLs listed in the file."""
        return [] if self.parser is None else list(self.parser.sitemaps)


def _origin(url: str) -> str:
    scheme_end = url.find("://")
    if scheme_end < 0:
        raise ValueError(f"not an absolute URL: {url!r}")
    end = url.find("/", scheme_end + 3)
    origin = url if end < 0 else url[:end]
    q = origin.find("?")
    return (origin if q < 0 else origin[:q]).lower()


def robots_url(url: str) -> str:
    """The robots.txt URL for the origin of ``url``."""
    return _origin(url) + "/robots.txt"


@dataclass(slots=True)
class _Entry:
    rules: RobotsRules
    expires: float | None


class RobotsCache:
    """Per-origin robots.txt rules with single-flight fetching and an LRU cache."""

    def __init__(
        self,
        fetch: RobotsFetch,
        user_agent: str,
        *,
        ttl: float | None = 86400.0,
        error_ttl: float = 300.0,
        max_origins: int = 50_000,
    ) -> None:
        self._fetch = fetch
        self.user_agent = user_agent
        self._ttl = ttl
        self._error_ttl = error_ttl
        self._max = max_origins
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[str, asyncio.Task[RobotsRules]] = {}
        self.fetches = 0

    async def rules_for(self, url: str) -> RobotsRules:
        """Return the rules of ``url``'s origin, fetching robots.txt if needed."""
        origin = _origin(url)
        entry = self._cache.get(origin)
        if entry is not None:
            if entry.expires is None or entry.expires > time.monotonic():
                self._cache.move_to_end(origin)
                return entry.rules
            del self._cache[origin]
        task = self._pending.get(origin)
        if task is None:
            task = asyncio.create_task(self._load(origin))
            self._pending[origin] = task
        return await asyncio.shield(task)

    async def allowed(self, url: str) -> bool:
        """True when robots.txt lets this user agent fetch ``url``."""
        return (await self.rules_for(url)).allowed(url)

    async def crawl_delay(self, url: str) -> float | None:
        """The ``Crawl-delay`` for ``url``'s origin, or ``None``."""
        return (await self.rules_for(url)).crawl_delay

    def cached(self, url: str) -> RobotsRules | None:
        """The cached rules for ``url``'s origin without fetching (may be stale)."""
        entry = self._cache.get(_origin(url))
        return None if entry is None else entry.rules

    async def close(self) -> None:
        """Cancel in-flight fetches and clear the cache."""
        # bounded: a fetch whose cancel has to wait for the network must not hang a close
        await cancel_and_wait(
            list(self._pending.values()), shutdown.CLOSE_TIMEOUT, "robots.txt fetch"
        )
        self._pending.clear()
        self._cache.clear()

    async def _load(self, origin: str) -> RobotsRules:
        try:
            rules, ttl = await self._fetch_rules(origin)
            expires = None if ttl is None else time.monotonic() + ttl
            self._cache[origin] = _Entry(rules, expires)
            self._cache.move_to_end(origin)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
            return rules
        finally:
            self._pending.pop(origin, None)

    async def _fetch_rules(self, origin: str) -> tuple[RobotsRules, float | None]:
        url = origin + "/robots.txt"
        self.fetches += 1
        try:
            response = await self._fetch(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "robots.txt %s unreachable (%s); allowing all for %ss", url, exc, self._error_ttl
            )
            return self._unreachable(origin, str(exc) or type(exc).__name__), self._error_ttl
        status = response.status
        if 200 <= status < 300:
            try:
                parser = Protego.parse(response.text)
            except Exception as exc:  # protego is lenient; be safe anyway
                log.warning("robots.txt %s unparseable (%s); allowing all", url, exc)
                return RobotsRules(origin, self.user_agent, "ok", None, str(exc)), self._ttl
            return RobotsRules(origin, self.user_agent, "ok", parser), self._ttl
        if 400 <= status < 500 and status != 429:
            log.debug("robots.txt %s: HTTP %s, allowing all", url, status)
            return RobotsRules(
                origin, self.user_agent, "missing", None, f"http_{status}"
            ), self._ttl
        log.warning("robots.txt %s: HTTP %s; allowing all for %ss", url, status, self._error_ttl)
        return self._unreachable(origin, f"http_{status}"), self._error_ttl

    def _unreachable(self, origin: str, error: str) -> RobotsRules:
        return RobotsRules(origin, self.user_agent, "unreachable", None, error)


def robots_directives(header: str | None, user_agent: str) -> set[str]:
    """The ``X-Robots-Tag`` directives (lower case: ``noindex``, ``nofollow``, ``none``)
    meant for every crawler or for ours: ``"googlebot: noindex"`` applies to Googlebot
    only; ``"QuaeroBot: nofollow"`` to a user agent whose product token is QuaeroBot."""
    if not header:
        return set()
    ours = user_agent.split("/", 1)[0].strip().lower()
    out: set[str] = set()
    scope = ""  # the user agent the directives that follow are for ("" = every crawler)
    for entry in header.split(","):
        entry = entry.strip().lower()
        name, sep, rest = entry.partition(":")
        if sep and name.strip() not in ("unavailable_after", "max-snippet", "max-image-preview"):
            scope = name.strip()
            entry = rest.strip()
        if scope in ("", ours):
            out.update(token for token in entry.split() if token)
    return out
