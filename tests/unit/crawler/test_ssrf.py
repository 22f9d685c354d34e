"""SSRF guard: address classification, the guarded resolver, literal hosts and redirects."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from quaero.crawler.fetch import FetchConfig, Fetcher
from quaero.crawler.ssrf import (
    BlockedAddressError,
    GuardedResolver,
    check_literal_host,
    is_public_address,
)
from tests.support.mock_http import expect_error, mock_fetcher, page, redirect
from tests.support.site import TestSite


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::", False),
        ("fe80::1%eth0", False),
        ("not-an-ip", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "2130706433", "127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]"]
)
def test_literal_hosts_refused(host: str) -> None:
    with pytest.raises(BlockedAddressError):
        check_literal_host(host)


def test_names_pass_literal_check() -> None:
    check_literal_host("example.com")
    check_literal_host("93.184.216.34")


class FakeResolver(AbstractResolver):
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append(host)
        return [
            ResolveResult(
                hostname=host,
                host=addr,
                port=port,
                family=socket.AF_INET6 if ":" in addr else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for addr in self.table[host]
        ]

    async def close(self) -> None:
        pass


async def test_guarded_resolver() -> None:
    inner = FakeResolver(
        {
            "evil.test": ["127.0.0.1"],
            "mixed.test": ["93.184.216.34", "10.0.0.1"],
            "mapped.test": ["::ffff:192.168.0.1"],
            "good.test": ["93.184.216.34"],
        }
    )
    guard = GuardedResolver(inner)
    for name in ("evil.test", "mixed.test", "mapped.test"):
        with pytest.raises(BlockedAddressError):
            await guard.resolve(name, 80)
    assert [r["host"] for r in await guard.resolve("good.test", 80)] == ["93.184.216.34"]
    await guard.close()


async def test_ssrf_through_aiohttp_resolver(site: TestSite) -> None:
    """A public-looking name resolving to 127.0.0.1 is refused; allowed when private is allowed."""
    resolver = FakeResolver({"site.test": ["127.0.0.1"]})
    url = f"http://site.test:{site.port}/p/1.html"
    guarded = Fetcher(FetchConfig(), resolver=resolver)
    try:
        err = await expect_error(guarded, url)
        assert (err.reason, err.retryable) == ("ssrf_blocked", False)
        assert resolver.calls == ["site.test"]
    finally:
        await guarded.close()
    assert sum(site.hits.values()) == 0  # no connection was made

    open_ = Fetcher(FetchConfig(allow_private_networks=True), resolver=resolver)
    try:
        r = await open_.fetch(url)
        assert r.status == 200 and "Page /p/1.html" in r.text
        assert site.hosts[f"site.test:{site.port}"] == 1
    finally:
        await open_.close()


async def test_ssrf_literal_and_redirect() -> None:
    routes = {
        "https://example.com/a": redirect("http://127.0.0.1/admin"),
        "https://example.com/b": redirect("http://[::ffff:169.254.169.254]/latest/meta-data"),
        "http://127.0.0.1/admin": page("admin"),
    }
    f, t = mock_fetcher(routes)
    for url in (
        "https://example.com/a",
        "https://example.com/b",
        "http://127.0.0.1/admin",
        "http://2130706433/admin",
        "http://[::1]/",
    ):
        err = await expect_error(f, url)
        assert (err.reason, err.retryable) == ("ssrf_blocked", False), url
    assert "http://127.0.0.1/admin" not in [r.url for r in t.requests]

    allowed, _ = mock_fetcher(routes, allow_private_networks=True)
    r = await allowed.fetch("https://example.com/a")
    assert r.url == "http://127.0.0.1/admin"
