"""Value types of the fetcher: its configuration, its result and its error.

Kept apart from :mod:`quaero.crawler.fetch` (which re-exports them) so job
code and settings can import them without the network machinery.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

__all__ = [
    "DEFAULT_USER_AGENT",
    "KEPT_HEADERS",
    "FetchConfig",
    "FetchError",
    "FetchResult",
    "parse_retry_after",
]

DEFAULT_USER_AGENT = "QuaeroBot/0.1 (+https://github.com/quaero/quaero)"
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "content-language",
    "last-modified",
    "etag",
    "cache-control",
    "x-robots-tag",
    "link",
)
_SECRET_FIELDS = ("headers", "cookies")


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Fetcher settings. ``repr``/``str`` redact ``headers`` and ``cookies`` values."""

    user_agent: str = DEFAULT_USER_AGENT
    #: seconds per request (one redirect hop), connect to last body byte
    timeout: float = 30.0
    connect_timeout: float | None = 10.0
    max_body_size: int = 10 * 1024 * 1024
    allowed_content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    max_redirects: int = 10
    #: extra request headers (e.g. Authorization); never logged
    headers: Mapping[str, str] = field(default_factory=dict)
    #: cookies sent as one Cookie header; never logged
    cookies: Mapping[str, str] = field(default_factory=dict)
    #: minimum seconds between two request starts to one host
    min_delay: float = 0.0
    max_connections: int = 100
    max_connections_per_host: int = 8
    allow_private_networks: bool = False
    #: Retry-After values are capped to this many seconds
    max_retry_after: float = 3600.0
    #: robots.txt Crawl-delay values are capped to this many seconds
    max_crawl_delay: float = 10.0
    accept_language: str | None = None

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS:
                value = {k: "<redacted>" for k in value}
            parts.append(f"{f.name}={value!r}")
        return f"FetchConfig({', '.join(parts)})"

    def __str__(self) -> str:
        return self.__repr__()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A successfully fetched HTML page."""

    url: str  #: final URL after redirects (normalised)
    requested_url: str  #: the URL asked for (normalised)
    status: int
    headers: dict[str, str]  #: subset of response headers (lower-case names, see KEPT_HEADERS)
    content_type: str  #: media type, e.g. ``text/html``
    encoding: str  #: codec used to decode ``text``
    text: str
    elapsed: float  #: seconds spent on the network, all hops (politeness waits excluded)
    redirects: tuple[str, ...] = ()  #: URLs that answered with a redirect, in order
    size: int = 0  #: body bytes (after content decoding)
    #: with ``follow_redirects=False``: the (normalised) target of a redirect answer
    redirect_to: str | None = None


class FetchError(Exception):
    """A fetch that did not produce a page.

    ``reason`` is a short machine string (``http_404``, ``timeout``, ...),
    ``retryable`` says whether trying again later may succeed, and
    ``retry_after`` is the server's requested delay in seconds, if any.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_error,
            (self.reason, self.message, self.retryable, self.retry_after, self.url, self.status),
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form (for job logs and job results)."""
        return {
            "reason": self.reason,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "url": self.url,
            "status": self.status,
        }

    def __repr__(self) -> str:
        return (
            f"FetchError(reason={self.reason!r}, retryable={self.retryable}, "
            f"retry_after={self.retry_after!r}, url={self.url!r}, message={self.message!r})"
        )


def _rebuild_error(
    reason: str,
    message: str,
    retryable: bool,
    retry_after: float | None,
    url: str | None,
    status: int | None,
) -> FetchError:
    return FetchError(
        reason, message, retryable=retryable, retry_after=retry_after, url=url, status=status
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` value (delta-seconds or HTTP-date) into seconds >= 0."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = datetime.now(UTC).timestamp() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
