"""Fetcher: redirects, limits, content types, charsets, error classes, politeness, SSRF."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import pickle
import time
from collections.abc import AsyncIterator

import pytest

from quaero.crawler.fetch import FetchConfig, Fetcher, FetchError, parse_retry_after
from quaero.crawler.robots import RobotsCache, RobotsResponse
from quaero.crawler.transport import MockResponse, MockTransport, Request
from quaero.crawler.urls import UrlFilter
from tests.support.mock_http import HTML, expect_error, mock_fetcher, page, redirect
from tests.support.site import TestSite

# ----------------------------------------------------------------- basics


async def test_success_result() -> None:
    f, t = mock_fetcher({"https://example.com/": page("<h1>Hi</h1>", ETag='"x"', Server="nginx")})
    r = await f.fetch("HTTPS://Example.com")
    assert r.url == r.requested_url == "https://example.com/"
    assert r.status == 200
    assert r.content_type == "text/html"
    assert r.encoding == "utf-8"
    assert "<h1>Hi</h1>" in r.text
    assert r.headers["etag"] == '"x"'
    assert "server" not in r.headers
    assert r.redirects == ()
    assert r.elapsed >= 0
    assert r.size == len(r.text)
    assert t.requests[0].headers["User-Agent"].startswith("QuaeroBot/")


async def test_headers_and_cookies_sent_but_redacted() -> None:
    cfg = dict(
        user_agent="TestBot/1.0",
        headers={"Authorization": "Bearer s3cret-token"},
        cookies={"session": "c00kie-value", "lang": "en"},
    )
    f, t = mock_fetcher({"https://example.com/": page()}, **cfg)
    await f.fetch("https://example.com/")
    sent = t.requests[0].headers
    assert sent["User-Agent"] == "TestBot/1.0"
    assert sent["Authorization"] == "Bearer s3cret-token"
    assert sent["Cookie"] == "session=c00kie-value; lang=en"
    for text in (repr(f.config), str(f.config), repr(t.requests[0]), str(t.requests[0])):
        assert "s3cret" not in text
        assert "c00kie" not in text
    assert "TestBot/1.0" in repr(f.config)
    assert "session" in repr(f.config)  # names are shown, values are not


async def test_invalid_url() -> None:
    f, _ = mock_fetcher({})
    err = await expect_error(f, "javascript:alert(1)")
    assert err.reason == "invalid_url"
    assert not err.retryable


# -------------------------------------------------------------- redirects


async def test_redirect_chain_followed() -> None:
    f, t = mock_fetcher(
        {
            "https://example.com/a": redirect("/b", 301),
            "https://example.com/b": redirect("https://www.example.com/c#frag", 302),
            "https://www.example.com/c": redirect("d?x=1", 307),
            "https://www.example.com/d?x=1": page("final"),
        }
    )
    scope = UrlFilter.from_config(["https://example.com/"])
    r = await f.fetch("https://example.com/a", scope=scope)
    assert r.url == "https://www.example.com/d?x=1"
    assert r.requested_url == "https://example.com/a"
    assert r.redirects == (
        "https://example.com/a",
        "https://example.com/b",
        "https://www.example.com/c",
    )
    assert len(t.requests) == 4


async def test_hop_limit() -> None:
    routes = {f"https://example.com/{i}": redirect(f"/{i + 1}") for i in range(20)}
    routes["https://example.com/20"] = page()
    f, t = mock_fetcher(routes, max_redirects=3)
    err = await expect_error(f, "https://example.com/0")
    assert err.reason == "too_many_redirects"
    assert not err.retryable
    assert len(t.requests) == 4  # the original request and three redirects
    f2, _ = mock_fetcher(routes, max_redirects=20)
    assert (await f2.fetch("https://example.com/0")).url == "https://example.com/20"


async def test_redirect_out_of_scope_refused() -> None:
    f, t = mock_fetcher({"https://example.com/a": redirect("https://evil.org/x")})
    scope = UrlFilter.from_config(["https://example.com/"])
    err = await expect_error(f, "https://example.com/a", scope=scope)
    assert err.reason == "redirect_out_of_scope"
    assert not err.retryable
    assert [r.url for r in t.requests] == ["https://example.com/a"]


async def test_redirect_excluded_by_pattern() -> None:
    f, _ = mock_fetcher({"https://example.com/a": redirect("/login?next=/a")})
    scope = UrlFilter.from_config(["https://example.com/"], exclude_patterns=["/login"])
    assert (
        await expect_error(f, "https://example.com/a", scope=scope)
    ).reason == "redirect_out_of_scope"


async def test_redirect_loop_and_bad_location() -> None:
    f, _ = mock_fetcher(
        {
            "https://example.com/a": redirect("/b"),
            "https://example.com/b": redirect("/a"),
            "https://example.com/c": redirect("javascript:alert(1)"),
        }
    )
    assert (await expect_error(f, "https://example.com/a")).reason == "redirect_loop"
    assert (await expect_error(f, "https://example.com/c")).reason == "bad_redirect"


async def test_redirect_disallowed_by_robots() -> None:
    async def robots_fetch(url: str) -> RobotsResponse:
        return RobotsResponse(200, "User-agent: *\nDisallow: /private/\n")

    f, t = mock_fetcher({"https://example.com/a": redirect("/private/x")})
    robots = RobotsCache(robots_fetch, "QuaeroBot")
    err = await expect_error(f, "https://example.com/a", robots=robots)
    assert err.reason == "redirect_robots"
    assert len(t.requests) == 1


async def test_credentials_not_sent_to_other_host_without_scope() -> None:
    f, t = mock_fetcher(
        {"https://example.com/a": redirect("https://other.org/b"), "https://other.org/b": page()},
        cookies={"sid": "secret"},
        headers={"X-Token": "secret"},
    )
    await f.fetch("https://example.com/a")
    assert "Cookie" in t.requests[0].headers and "X-Token" in t.requests[0].headers
    assert "Cookie" not in t.requests[1].headers and "X-Token" not in t.requests[1].headers


# --------------------------------------------------------- size and type


async def test_too_large_from_content_length() -> None:
    body = "x" * 5000
    f, _ = mock_fetcher(
        {"https://example.com/": MockResponse(200, {**HTML, "Content-Length": "5000"}, body)},
        max_body_size=1000,
    )
    err = await expect_error(f, "https://example.com/")
    assert (err.reason, err.retryable) == ("too_large", False)


class EndlessBody:
    """A raw response streaming 1 KiB chunks forever, counting what was read."""

    status = 200
    headers = {"content-type": "text/html"}

    def __init__(self) -> None:
        self.chunks = 0

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while True:
            self.chunks += 1
            yield b"x" * 1024

    async def __aenter__(self) -> EndlessBody:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class EndlessTransport:
    def __init__(self) -> None:
        self.response = EndlessBody()

    def send(self, request: Request) -> EndlessBody:
        return self.response

    async def close(self) -> None:
        pass


async def test_too_large_while_streaming() -> None:
    transport = EndlessTransport()
    f = Fetcher(FetchConfig(max_body_size=10_000), transport=transport)
    err = await expect_error(f, "https://example.com/")
    assert (err.reason, err.retryable) == ("too_large", False)
    assert transport.response.chunks == 10  # aborted as soon as the limit was passed


async def test_too_large_real_server(site: TestSite, fetcher: Fetcher) -> None:
    for path in ("/huge.html", "/huge-stream.html"):
        err = await expect_error(fetcher, site.url(path))
        assert err.reason == "too_large"


@pytest.mark.parametrize("ctype", ["application/pdf", "image/png", "text/csv", "application/json"])
async def test_content_type_refused_before_body(ctype: str) -> None:
    f, _ = mock_fetcher(
        {"https://example.com/f": MockResponse(200, {"Content-Type": ctype}, b"\x00")}
    )
    err = await expect_error(f, "https://example.com/f")
    assert (err.reason, err.retryable) == ("content_type", False)


async def test_content_types_configurable_and_sniffed() -> None:
    f, _ = mock_fetcher(
        {
            "https://example.com/x": MockResponse(
                200, {"Content-Type": "application/xhtml+xml"}, "<html/>"
            ),
            "https://example.com/t": MockResponse(200, {"Content-Type": "text/plain"}, "hello"),
            "https://example.com/n": MockResponse(200, {}, "<!DOCTYPE html><p>no header</p>"),
            "https://example.com/b": MockResponse(200, {}, b"\x89PNG..."),
        },
        allowed_content_types=("text/html", "application/xhtml+xml", "text/*"),
    )
    assert (await f.fetch("https://example.com/x")).content_type == "application/xhtml+xml"
    assert (await f.fetch("https://example.com/t")).text == "hello"
    assert (await f.fetch("https://example.com/n")).content_type == "text/html"
    assert (await expect_error(f, "https://example.com/b")).reason == "content_type"


# ---------------------------------------------------------------- charset


@pytest.mark.parametrize(
    ("headers", "body", "text", "encoding"),
    [
        (
            {"Content-Type": "text/html; charset=ISO-8859-1"},
            "<p>café</p>".encode("latin-1"),
            "café",
            "cp1252",
        ),
        (
            {"Content-Type": "text/html"},
            '<meta charset="windows-1251"><p>Привет</p>'.encode("cp1251"),
            "Привет",
            "cp1251",
        ),
        (
            {"Content-Type": "text/html"},
            '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis"><p>日本</p>'.encode(
                "shift_jis"
            ),
            "日本",
            "shift_jis",
        ),
        ({"Content-Type": "text/html"}, "<p>naïve</p>".encode(), "naïve", "utf-8"),
        ({"Content-Type": "text/html"}, b"\xef\xbb\xbf<p>bom \xc3\xa9</p>", "bom é", "utf-8"),
        # an unknown or missing charset is detected (windows-1252 for Western text)
        ({"Content-Type": "text/html; charset=bogus"}, b"<p>\xff ok</p>", "\xff ok", "cp1252"),
        ({"Content-Type": "text/html"}, "<p>Price €5</p>".encode("cp1252"), "Price €5", "cp1252"),
        (
            {"Content-Type": "text/html"},
            "<p>Привет мир, как дела? Это тест.</p>".encode("cp1251"),
            "Привет мир, как дела? Это тест.",
            "cp1251",
        ),
        (
            {"Content-Type": "text/html; charset=utf-8"},
            b"<p>bad \xff byte</p>",
            "bad \ufffd byte",
            "utf-8",
        ),
    ],
)
async def test_charset(headers: dict[str, str], body: bytes, text: str, encoding: str) -> None:
    f, _ = mock_fetcher({"https://example.com/": MockResponse(200, headers, body)})
    r = await f.fetch("https://example.com/")
    assert text in r.text
    assert r.encoding == encoding


async def test_meta_charset_only_real_server(site: TestSite, fetcher: Fetcher) -> None:
    r = await fetcher.fetch(site.url("/latin1.html"))
    assert "Ça coûte 5 EUR - déjà vu, naïve façade." in r.text


# ------------------------------------------------------------ error classes


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
async def test_status_classification(status: int, retryable: bool) -> None:
    f, _ = mock_fetcher({"https://example.com/": MockResponse(status, HTML, "x")})
    err = await expect_error(f, "https://example.com/")
    assert err.reason == f"http_{status}"
    assert err.status == status
    assert err.retryable is retryable
    assert err.retry_after is None


async def test_retry_after_seconds_and_host_backoff() -> None:
    f, _ = mock_fetcher({"https://example.com/": MockResponse(429, {"Retry-After": "2"}, "")})
    err = await expect_error(f, "https://example.com/")
    assert (err.reason, err.retryable, err.retry_after) == ("http_429", True, 2.0)
    # the whole host is deferred: the next request waits about 2 s
    assert f.throttle.reserve("example.com") > 1.5


async def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    f, _ = mock_fetcher({"https://example.com/": MockResponse(503, {"Retry-After": when}, "")})
    err = await expect_error(f, "https://example.com/")
    assert err.reason == "http_503" and err.retryable
    assert err.retry_after is not None and 100 < err.retry_after <= 121


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


async def test_retry_after_capped() -> None:
    f, _ = mock_fetcher(
        {"https://example.com/": MockResponse(429, {"Retry-After": "86400"}, "")},
        max_retry_after=30,
    )
    assert (await expect_error(f, "https://example.com/")).retry_after == 30


async def test_timeout_is_retryable() -> None:
    f, _ = mock_fetcher(
        {"https://example.com/": MockResponse(200, HTML, "x", delay=1.0)}, timeout=0.05
    )
    err = await expect_error(f, "https://example.com/")
    assert (err.reason, err.retryable) == ("timeout", True)


async def test_connection_error_is_retryable() -> None:
    def boom(request: Request) -> MockResponse:
        raise ConnectionResetError("reset by peer")

    f, _ = mock_fetcher(boom)
    err = await expect_error(f, "https://example.com/")
    assert (err.reason, err.retryable) == ("connection_error", True)


async def test_real_server_errors(site: TestSite) -> None:
    f = Fetcher(FetchConfig(allow_private_networks=True, timeout=0.2))
    try:
        err = await expect_error(f, site.url("/slow.html"))
        assert (err.reason, err.retryable) == ("timeout", True)
        assert (await expect_error(f, site.url("/missing.html"))).reason == "http_404"
        flaky = await expect_error(f, site.url("/flaky.html"))
        assert (flaky.reason, flaky.retryable) == ("http_500", True)
        assert (await f.fetch(site.url("/flaky.html"))).status == 200
        assert (await expect_error(f, site.url("/files/report.pdf"))).reason == "content_type"
        # nothing listens on port 1
        closed = await expect_error(f, "http://127.0.0.1:1/")
        assert (closed.reason, closed.retryable) == ("connection_error", True)
    finally:
        await f.close()


async def test_real_redirects(site: TestSite, fetcher: Fetcher) -> None:
    scope = UrlFilter.from_config([site.url("/")])
    r = await fetcher.fetch(site.url("/redirect/chain/1"), scope=scope)
    assert r.url == site.url("/r/chain-end.html")
    assert len(r.redirects) == 3
    err = await expect_error(fetcher, site.url("/redirect/away"), scope=scope)
    assert err.reason == "redirect_out_of_scope"
    assert site.hosts.keys() == {f"127.0.0.1:{site.port}"}


# --------------------------------------------------------------- politeness


async def test_politeness_spacing_across_tasks() -> None:
    starts: list[float] = []

    def handler(request: Request) -> MockResponse:
        if "example.com" in request.url:
            starts.append(time.monotonic())
        return page()

    f, _ = mock_fetcher(handler, min_delay=0.05)
    other_t0 = time.monotonic()  # the loop's clock: slots are counted from here on
    await asyncio.gather(
        *(f.fetch(f"https://example.com/{i}") for i in range(5)),
        f.fetch("https://other.org/"),  # another host is not delayed
    )
    starts.sort()
    assert len(starts) == 5
    # the i-th request never starts before its slot, i intervals after the first one
    # (gaps between observed starts would also measure the machine's scheduling delay)
    for i, started in enumerate(starts):
        assert started - other_t0 >= i * 0.05 - 0.001
    assert time.monotonic() - other_t0 >= 0.18


async def test_host_delay_override() -> None:
    f, _ = mock_fetcher({}, min_delay=0.0)
    f.set_host_delay("slow.example", 2.0)
    assert f.throttle.reserve("slow.example") == 0.0
    assert f.throttle.reserve("slow.example") > 1.9
    assert f.throttle.reserve("fast.example") == 0.0
    f.set_host_delay("slow.example", None)
    assert f.throttle.delay_for("slow.example") == 0.0


async def test_robots_checked_for_start_url_and_crawl_delay_applied() -> None:
    async def robots_fetch(url: str) -> RobotsResponse:
        return RobotsResponse(200, "User-agent: *\nDisallow: /private/\nCrawl-delay: 600\n")

    f, t = mock_fetcher({"https://example.com/ok": page()}, max_crawl_delay=7.5)
    robots = RobotsCache(robots_fetch, "QuaeroBot")
    err = await expect_error(f, "https://example.com/private/x", robots=robots)
    assert (err.reason, err.retryable) == ("robots", False)
    assert t.requests == []
    await f.fetch("https://example.com/ok", robots=robots)
    assert f.throttle.delay_for("example.com") == 7.5  # Crawl-delay, capped


def test_fetch_error_pickles_and_serialises() -> None:
    err = FetchError("http_429", "slow down", retryable=True, retry_after=3.0, url="u", status=429)
    back = pickle.loads(pickle.dumps(err))
    assert (
        back.as_dict()
        == err.as_dict()
        == {
            "reason": "http_429",
            "message": "slow down",
            "retryable": True,
            "retry_after": 3.0,
            "url": "u",
            "status": 429,
        }
    )
    assert str(back) == "slow down"


async def test_connection_reused_across_redirects_and_errors(
    site: TestSite, fetcher: Fetcher
) -> None:
    for path in ("/p/1.html", "/missing.html", "/redirect/301", "/p/2.html", "/flaky.html"):
        with contextlib.suppress(FetchError):
            await fetcher.fetch(site.url(path))
    assert sum(site.peers.values()) == 6
    assert len(site.peers) == 1  # one keep-alive connection for everything


async def test_fetcher_context_manager_closes_transport() -> None:
    transport = MockTransport(lambda request: page())
    async with Fetcher(transport=transport) as f:
        await f.fetch("https://example.com/")
    assert transport.closed
