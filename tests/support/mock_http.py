"""Socket-free helpers for fetcher tests: a Fetcher on a MockTransport and canned responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from quaero.crawler.fetch import FetchConfig, Fetcher, FetchError
from quaero.crawler.transport import MockResponse, MockTransport, Request

__all__ = ["HTML", "expect_error", "mock_fetcher", "page", "redirect"]

HTML = {"Content-Type": "text/html; charset=utf-8"}


def mock_fetcher(
    routes: dict[str, MockResponse] | Callable[[Request], MockResponse], **config: Any
) -> tuple[Fetcher, MockTransport]:
    """A Fetcher on a MockTransport answering from ``routes`` (URL → response; 404 otherwise)
    or from a handler function; ``config`` are FetchConfig fields."""

    def handler(request: Request) -> MockResponse:
        if callable(routes):
            return routes(request)
        return routes.get(request.url, MockResponse(404, {"Content-Type": "text/html"}, "nope"))

    transport = MockTransport(handler)
    return Fetcher(FetchConfig(**config), transport=transport), transport


def page(body: str = "<p>hi</p>", **headers: str) -> MockResponse:
    """A 200 HTML response wrapping ``body``."""
    return MockResponse(200, {**HTML, **headers}, f"<html><body>{body}</body></html>")


def redirect(location: str, status: int = 301) -> MockResponse:
    """A redirect response to ``location``."""
    return MockResponse(status, {"Location": location}, "")


async def expect_error(fetcher: Fetcher, url: str, **kwargs: Any) -> FetchError:
    """Fetch ``url`` and return the FetchError it must raise."""
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url, **kwargs)
    return info.value
