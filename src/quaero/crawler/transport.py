"""The wire layer under :class:`quaero.crawler.fetch.Fetcher`.

A :class:`Transport` sends one request (never following redirects) and
yields a :class:`RawResponse` whose body is read in chunks. Two exist:

* :class:`AiohttpTransport` — production: one shared ``aiohttp.ClientSession``
  and ``TCPConnector`` (keep-alive, ``limit`` / ``limit_per_host``), no cookie
  jar, the SSRF-guarding resolver unless private networks are allowed;
* :class:`MockTransport` — tests: a handler function maps a :class:`Request`
  to a :class:`MockResponse` without sockets (like ``httpx.MockTransport``),
  and every request is recorded in ``transport.requests``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from quaero.crawler.ssrf import GuardedResolver

__all__ = [
    "AiohttpTransport",
    "MockResponse",
    "MockTransport",
    "RawResponse",
    "Request",
    "ResponseContext",
    "Transport",
]

_SAFE_HEADERS = frozenset({"user-agent", "accept", "accept-language", "accept-encoding"})
_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Request:
    """One outgoing GET request. ``repr`` redacts header values (cookies, tokens)."""

    method: str
    url: str
    headers: Mapping[str, str]

    def __repr__(self) -> str:
        shown = {
            k: (v if k.lower() in _SAFE_HEADERS else "<redacted>") for k, v in self.headers.items()
        }
        return f"Request(method={self.method!r}, url={self.url!r}, headers={shown!r})"

    __str__ = __repr__


class RawResponse(Protocol):
    """Status line and headers of a response whose body has not been read yet."""

    @property
    def status(self) -> int:
        """HTTP status code."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive response headers."""
        ...

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield the (decompressed) body in chunks."""
        ...


class ResponseContext(Protocol):
    """Async context manager returned by :meth:`Transport.send`."""

    async def __aenter__(self) -> RawResponse: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class Transport(Protocol):
    """Sends single requests; the fetcher handles redirects, limits and errors."""

    def send(self, request: Request) -> ResponseContext:
        """Start ``request``; the response is valid inside the ``async with`` block."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


# --------------------------------------------------------------------- aiohttp


class _AiohttpResponse:
    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp

    @property
    def status(self) -> int:
        """HTTP status code."""
        return self._resp.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """Case-insensitive response headers."""
        return self._resp.headers

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """The decompressed body, chunk by chunk as it arrives."""
        return self._resp.content.iter_any()


class _AiohttpContext:
    __slots__ = ("_cm", "_request", "_resp", "_transport")

    def __init__(self, transport: AiohttpTransport, request: Request) -> None:
        self._transport = transport
        self._request = request
        self._resp: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> _AiohttpResponse:
        session = self._transport._get_session()
        self._resp = await session.request(
            self._request.method,
            URL(self._request.url, encoded=True),
            headers=self._request.headers,
            allow_redirects=False,
        )
        return _AiohttpResponse(self._resp)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._resp is not None:
            if exc is not None:
                self._resp.close()  # the body was not consumed: drop the connection
            else:
                self._resp.release()


class AiohttpTransport:
    """Production transport on one shared aiohttp session (created lazily in the loop)."""

    def __init__(
        self,
        *,
        limit: int = 100,
        limit_per_host: int = 8,
        allow_private_networks: bool = False,
        resolver: AbstractResolver | None = None,
        connect_timeout: float | None = 10.0,
        dns_cache_ttl: int = 300,
    ) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._allow_private = allow_private_networks
        self._resolver = resolver
        self._connect_timeout = connect_timeout
        self._dns_ttl = dns_cache_ttl
        self._session: aiohttp.ClientSession | None = None
        self._guard: GuardedResolver | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver: AbstractResolver | None = self._resolver
            if not self._allow_private:
                resolver = self._guard = GuardedResolver(self._resolver)
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                resolver=resolver,
                ttl_dns_cache=self._dns_ttl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                auto_decompress=True,
                trust_env=False,
                requote_redirect_url=False,
            )
        return self._session

    def send(self, request: Request) -> _AiohttpContext:
        """Send ``request`` without following redirects."""
        return _AiohttpContext(self, request)

    async def close(self) -> None:
        """Close the session and its connector (and resolver)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._guard is not None:
            guard, self._guard = self._guard, None
            await guard.close()


# ------------------------------------------------------------------------ mock


@dataclass(slots=True)
class MockResponse:
    """A canned response for :class:`MockTransport`.

    ``body`` as ``str`` is encoded UTF-8. ``chunk_size`` splits the body into
    chunks; ``delay`` sleeps before the status line (to test timeouts).
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "text/html"})
    body: bytes | str = b""
    chunk_size: int = _CHUNK
    delay: float = 0.0

    @property
    def status_code(self) -> int:
        """Alias of ``status`` (httpx spelling)."""
        return self.status


class _MockRaw:
    __slots__ = ("_body", "_chunk", "headers", "status")

    def __init__(self, resp: MockResponse) -> None:
        self.status = resp.status
        self.headers: CIMultiDict[str] = CIMultiDict(resp.headers)
        self._body = resp.body.encode("utf-8") if isinstance(resp.body, str) else resp.body
        self._chunk = max(1, resp.chunk_size)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body in ``chunk_size`` pieces."""
        for i in range(0, len(self._body), self._chunk):
            yield self._body[i : i + self._chunk]


MockHandler = Callable[[Request], "MockResponse | Awaitable[MockResponse]"]


class _MockContext:
    __slots__ = ("_request", "_transport")

    def __init__(self, transport: MockTransport, request: Request) -> None:
        self._transport = transport
        self._request = request

    async def __aenter__(self) -> _MockRaw:
        self._transport.requests.append(self._request)
        result = self._transport.handler(self._request)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, MockResponse)
        if result.delay:
            await asyncio.sleep(result.delay)
        return _MockRaw(result)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class MockTransport:
    """Socket-free transport for unit tests.

    ``handler(request)`` returns a :class:`MockResponse` (or an awaitable of
    one) or raises (``TimeoutError``, ``ConnectionError``, ...) to simulate
    network failures. ``requests`` lists every request sent, in order.
    """

    def __init__(self, handler: MockHandler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False

    def send(self, request: Request) -> _MockContext:
        """Record ``request`` and answer it with the handler's response."""
        return _MockContext(self, request)

    async def close(self) -> None:
        """Mark the transport closed."""
        self.closed = True
