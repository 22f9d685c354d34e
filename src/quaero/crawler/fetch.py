"""Async page fetcher on aiohttp: redirects, limits, politeness, error classes.

``Fetcher(FetchConfig(...))`` owns one transport (one aiohttp session and
connector shared by every task, so connections are reused) and a per-host
:class:`~quaero.crawler.politeness.HostThrottle`. ``await fetcher.fetch(url,
scope=url_filter, robots=robots_cache)`` returns a :class:`FetchResult` or
raises :class:`FetchError`:

* redirects (301/302/303/307/308) are followed by hand, at most
  ``max_redirects`` hops; every hop is normalised, checked against the scope
  filter and robots.txt (when given) and the SSRF guard, and waits for its
  host's politeness slot;
* each hop has a ``timeout`` (status line, headers and body);
* the media type must be one of ``allowed_content_types`` (checked from the
  headers before the body is read; a missing Content-Type is sniffed);
* the body is streamed and the fetch aborted once it exceeds
  ``max_body_size`` (also checked up front from Content-Length);
* the text is decoded per :mod:`quaero.crawler.encoding`.

Failures are classified: ``retryable`` (``timeout``, ``connection_error``,
transient ``dns_error``, ``http_5xx``, ``http_429``; the latter two carry
``retry_after`` from a ``Retry-After`` header, seconds or HTTP-date) or
permanent (other ``http_4xx``, ``too_large``, ``content_type``,
``ssrf_blocked``, ``robots``, ``redirect_out_of_scope``, ``redirect_robots``,
``too_many_redirects``, ``redirect_loop``, ``bad_redirect``, ``invalid_url``).

Configured cookies and extra headers are sent with every request but never
shown by ``repr``/``str`` of the config or of a request; when a redirect leaves
the original host and no scope filter vouches for the new host, they are not
sent to it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import zlib
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver

from quaero.crawler.encoding import decode_html, decode_text, media_type
from quaero.crawler.fetch_types import (
    DEFAULT_USER_AGENT,
    KEPT_HEADERS,
    FetchConfig,
    FetchError,
    FetchResult,
    parse_retry_after,
)
from quaero.crawler.politeness import HostThrottle
from quaero.crawler.robots import RobotsCache, RobotsResponse
from quaero.crawler.ssrf import BlockedAddressError, check_literal_host, find_blocked
from quaero.crawler.transport import AiohttpTransport, RawResponse, Request, Transport
from quaero.crawler.urls import UrlFilter, host_of, resolve, try_normalize

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchConfig",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ROBOTS_MAX_BYTES = 512 * 1024
_ROBOTS_MAX_REDIRECTS = 5
_DRAIN_MAX_BYTES = 64 * 1024
_SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit (uncompressed)


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate gzip data, at most ``limit`` bytes (a bomb stops there)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return d.decompress(body, limit)
    except zlib.error:
        return b""


def _content_type_allowed(mtype: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        if entry == mtype or (entry.endswith("/*") and mtype.startswith(entry[:-1])):
            return True
    return False


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")) or (
        b"<html" in head
    )


@dataclass(slots=True)
class _Hop:
    status: int
    headers: dict[str, str]
    location: str | None = None
    body: bytes | None = None
    retry_after: str | None = None


class Fetcher:
    """Fetches pages; share one instance across tasks (it owns the connection pool)."""

    def __init__(
        self,
        config: FetchConfig | None = None,
        *,
        transport: Transport | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """``transport`` replaces the network (tests); ``resolver`` replaces DNS
        under the SSRF guard (tests of the guard itself)."""
        self.config = config or FetchConfig()
        cfg = self.config
        self.transport: Transport = transport or AiohttpTransport(
            limit=cfg.max_connections,
            limit_per_host=cfg.max_connections_per_host,
            allow_private_networks=cfg.allow_private_networks,
            resolver=resolver,
            connect_timeout=cfg.connect_timeout,
        )
        self.throttle = HostThrottle(cfg.min_delay)
        base = {
            "User-Agent": cfg.user_agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
        }
        if cfg.accept_language:
            base["Accept-Language"] = cfg.accept_language
        self._public_headers = dict(base)
        secret = dict(base)
        secret.update(cfg.headers)
        if cfg.cookies:
            secret["Cookie"] = "; ".join(f"{k}={v}" for k, v in cfg.cookies.items())
        self._credential_headers = secret

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close connections (after giving back any shared turn on a host). The fetcher
        cannot be used afterwards."""
        await self.throttle.close()
        await self.transport.close()

    def set_host_delay(self, host: str, delay: float | None) -> None:
        """Politeness interval for ``host`` (e.g. robots ``Crawl-delay``); min_delay still applies."""
        self.throttle.set_delay(host, delay)

    # ----------------------------------------------------------------- public

    async def fetch(
        self,
        url: str,
        *,
        scope: UrlFilter | None = None,
        robots: RobotsCache | None = None,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """Fetch an HTML page, following redirects allowed by ``scope`` and ``robots``.

        With ``follow_redirects=False`` a redirect answer is returned as a result with
        ``redirect_to`` set (and no body): the caller decides whether to fetch the target.

        ``scope`` judges redirect targets only (checking ``url`` itself is the
        caller's job). With ``robots``, ``url`` and every redirect target must
        be allowed by robots.txt (``robots`` / ``redirect_robots`` errors) and
        the host's ``Crawl-delay`` (capped at ``max_crawl_delay``) becomes its
        politeness interval. Raises :class:`FetchError`.
        """
        cfg = self.config
        start_url = try_normalize(url)
        if start_url is None:
            raise FetchError("invalid_url", f"invalid URL {url[:200]!r}", url=url)
        if robots is not None:
            await self._apply_robots(start_url, robots)
        current = start_url
        origin_host = host_of(start_url)
        redirects: list[str] = []
        elapsed = 0.0
        send_credentials = True
        for _ in range(cfg.max_redirects + 1):
            t0 = time.perf_counter()
            hop = await self._hop(current, send_credentials, robots_mode=False)
            elapsed += time.perf_counter() - t0
            if hop.location is None:
                assert hop.body is not None
                mtype = media_type(hop.headers.get("content-type"))
                text, encoding = decode_html(hop.body, hop.headers.get("content-type"))
                return FetchResult(
                    url=current,
                    requested_url=start_url,
                    status=hop.status,
                    headers=hop.headers,
                    content_type=mtype or "text/html",
                    encoding=encoding,
                    text=text,
                    elapsed=elapsed,
                    redirects=tuple(redirects),
                    size=len(hop.body),
                )
            target = resolve(current, hop.location)
            if target is None:
                raise FetchError(
                    "bad_redirect",
                    f"{current} redirects to unusable {hop.location[:200]!r}",
                    url=current,
                )
            if not follow_redirects:
                return FetchResult(
                    url=current,
                    requested_url=start_url,
                    status=hop.status,
                    headers=hop.headers,
                    content_type="",
                    encoding="",
                    text="",
                    elapsed=elapsed,
                    redirects=(current,),
                    redirect_to=target,
                )
            redirects.append(current)
            if target in redirects:
                raise FetchError("redirect_loop", f"redirect loop at {target}", url=start_url)
            if scope is not None:
                reason = scope.check(target)
                if reason is not None:
                    raise FetchError(
                        "redirect_out_of_scope",
                        f"{current} redirects to {target} ({reason.value})",
                        url=start_url,
                    )
            elif send_credentials and host_of(target) != origin_host:
                send_credentials = False
            if robots is not None and not await self._robots_allow(target, robots):
                raise FetchError(
                    "redirect_robots",
                    f"{current} redirects to {target}, disallowed by robots.txt",
                    url=start_url,
                )
            current = target
        raise FetchError(
            "too_many_redirects",
            f"more than {cfg.max_redirects} redirects from {start_url}",
            url=start_url,
        )

    async def fetch_robots(self, url: str) -> RobotsResponse:
        """Fetch a robots.txt for :class:`RobotsCache`: any status, any content type.

        Follows up to 5 redirects (any host, SSRF guard still applies), keeps
        the first 512 KiB, raises :class:`FetchError` only for network failures.
        """
        current = try_normalize(url)
        if current is None:
            raise FetchError("invalid_url", f"invalid URL {url[:200]!r}", url=url)
        for _ in range(_ROBOTS_MAX_REDIRECTS + 1):
            hop = await self._hop(current, False, robots_mode=True)
            if hop.location is None:
                text = decode_text(hop.body or b"", hop.headers.get("content-type"))
                return RobotsResponse(hop.status, text if 200 <= hop.status < 300 else "")
            target = resolve(current, hop.location)
            if target is None:
                return RobotsResponse(404)
            current = target
        return RobotsResponse(404)  # too many redirects: RFC 9309 says treat as unavailable (4xx)

    async def fetch_sitemap(self, url: str, max_bytes: int = _SITEMAP_MAX_BYTES) -> bytes | None:
        """Fetch a sitemap (any content type; gzip-compressed ones are inflated): its bytes
        (at most ``max_bytes``), or ``None`` for a non-2xx answer or a network failure."""
        current = try_normalize(url)
        if current is None:
            return None
        try:
            for _ in range(_ROBOTS_MAX_REDIRECTS + 1):
                hop = await self._hop(current, True, robots_mode=True, max_bytes=max_bytes)
                if hop.location is None:
                    if not 200 <= hop.status < 300:
                        return None
                    body = hop.body or b""
                    if body[:2] == b"\x1f\x8b":
                        body = _gunzip(body, max_bytes)
                    return body
                target = resolve(current, hop.location)
                if target is None:
                    return None
                current = target
        except FetchError:
            return None
        return None

    def robots_cache(self, *, ttl: float | None = 86400.0, error_ttl: float = 300.0) -> RobotsCache:
        """A :class:`RobotsCache` that fetches through this fetcher with its user agent."""
        return RobotsCache(self.fetch_robots, self.config.user_agent, ttl=ttl, error_ttl=error_ttl)

    # --------------------------------------------------------------- internals

    async def _robots_allow(self, url: str, robots: RobotsCache) -> bool:
        rules = await robots.rules_for(url)
        delay = rules.crawl_delay
        if delay:
            self.throttle.set_delay(host_of(url), min(delay, self.config.max_crawl_delay))
        return rules.allowed(url)

    async def _apply_robots(self, url: str, robots: RobotsCache) -> None:
        if not await self._robots_allow(url, robots):
            raise FetchError("robots", f"{url} is disallowed by robots.txt", url=url)

    async def _hop(
        self, url: str, send_credentials: bool, *, robots_mode: bool, max_bytes: int = 0
    ) -> _Hop:
        cfg = self.config
        host = host_of(url)
        if not cfg.allow_private_networks:
            try:
                check_literal_host(host)
            except BlockedAddressError as exc:
                raise FetchError("ssrf_blocked", str(exc), url=url) from None
        await self.throttle.wait(host)
        try:
            return await self._send(url, send_credentials, robots_mode, max_bytes)
        finally:
            self.throttle.done(host)  # a shared turn on the host ends with the request

    async def _send(
        self, url: str, send_credentials: bool, robots_mode: bool, max_bytes: int = 0
    ) -> _Hop:
        cfg = self.config
        headers = self._credential_headers if send_credentials else self._public_headers
        request = Request("GET", url, headers)
        try:
            async with asyncio.timeout(cfg.timeout), self.transport.send(request) as resp:
                return await self._handle(url, resp, robots_mode, max_bytes)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(
                "timeout",
                f"no complete answer from {url} within {cfg.timeout}s",
                retryable=True,
                url=url,
            ) from None
        except (aiohttp.InvalidURL, ValueError) as exc:
            raise FetchError("invalid_url", f"invalid URL {url}: {exc}", url=url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._network_error(url, exc) from None

    def _network_error(self, url: str, exc: BaseException) -> FetchError:
        log.debug("fetch %s failed: %r", url, exc)
        blocked = find_blocked(exc)
        if blocked is not None:
            return FetchError("ssrf_blocked", str(blocked), url=url)
        if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(
            getattr(exc, "os_error", None), socket.gaierror
        ):
            gai = getattr(exc, "os_error", None)
            permanent = isinstance(gai, socket.gaierror) and gai.errno in (
                socket.EAI_NONAME,
                getattr(socket, "EAI_NODATA", socket.EAI_NONAME),
            )
            return FetchError(
                "dns_error",
                f"cannot resolve host of {url}: {exc}",
                retryable=not permanent,
                url=url,
            )
        return FetchError(
            "connection_error",
            f"{type(exc).__name__} fetching {url}: {exc}",
            retryable=True,
            url=url,
        )

    async def _handle(
        self, url: str, resp: RawResponse, robots_mode: bool, max_bytes: int = 0
    ) -> _Hop:
        cfg = self.config
        status = resp.status
        raw = resp.headers
        headers = {name: raw[name] for name in KEPT_HEADERS if name in raw}
        if status in REDIRECT_STATUSES:
            location = raw.get("location")
            if location:
                await self._drain(resp, headers)
                return _Hop(status, headers, location=location)
        if robots_mode:
            body = await self._read(url, resp, max_bytes or _ROBOTS_MAX_BYTES, truncate=True)
            return _Hop(status, headers, body=body)
        if status >= 300 or status < 200:
            await self._drain(resp, headers)
            self._raise_status(url, status, raw.get("retry-after"))
        mtype = media_type(headers.get("content-type"))
        if mtype and not _content_type_allowed(mtype, cfg.allowed_content_types):
            raise FetchError("content_type", f"{url} is {mtype}, not HTML", url=url, status=status)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cfg.max_body_size:
            raise FetchError(
                "too_large",
                f"{url} is {length} bytes (limit {cfg.max_body_size})",
                url=url,
                status=status,
            )
        body = await self._read(url, resp, cfg.max_body_size, truncate=False)
        if not mtype and not _looks_like_html(body):
            raise FetchError("content_type", f"{url} has no Content-Type and is not HTML", url=url)
        return _Hop(status, headers, body=body)

    @staticmethod
    async def _drain(resp: RawResponse, headers: dict[str, str]) -> None:
        """Read a small unwanted body so the keep-alive connection can be reused."""
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= _DRAIN_MAX_BYTES:
            async for _ in resp.iter_chunks():
                pass

    async def _read(self, url: str, resp: RawResponse, limit: int, *, truncate: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.iter_chunks():
            size += len(chunk)
            if size > limit:
                if truncate:
                    chunks.append(chunk[: len(chunk) - (size - limit)])
                    break
                raise FetchError("too_large", f"{url} exceeds {limit} bytes", url=url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _raise_status(self, url: str, status: int, retry_after_header: str | None) -> None:
        retryable = status == 429 or status >= 500
        retry_after: float | None = None
        if status in (429, 503):
            retry_after = parse_retry_after(retry_after_header)
            if retry_after is not None:
                retry_after = min(retry_after, self.config.max_retry_after)
                self.throttle.defer(host_of(url), retry_after)
        raise FetchError(
            f"http_{status}",
            f"{url} answered HTTP {status}",
            retryable=retryable,
            retry_after=retry_after,
            url=url,
            status=status,
        )
