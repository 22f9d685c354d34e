"""URL normalisation, resolution and scope filtering."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quaero.crawler.urls import (
    DEFAULT_TRACKING_PARAMS,
    InvalidURL,
    NormalizeOptions,
    SkipReason,
    UrlFilter,
    host_of,
    normalize,
    resolve,
    try_normalize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/", "http://example.com/"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:/a", "http://example.com/a"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/../../x", "http://example.com/x"),
        ("http://example.com/a/b/..", "http://example.com/a/"),
        ("http://example.com/a#frag", "http://example.com/a"),
        ("http://example.com/a?#frag", "http://example.com/a"),
        ("http://example.com/%7euser/%41", "http://example.com/~user/A"),
        ("http://example.com/a%2fb", "http://example.com/a%2Fb"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com/ü", "http://example.com/%C3%BC"),
        ("http://example.com/100%", "http://example.com/100%25"),
        ("http://example.com/%2e%2E/x", "http://example.com/x"),
        ("http://example.com/?q=a b&x=%7e", "http://example.com/?q=a%20b&x=~"),
        ("http://example.com/a\\b", "http://example.com/a/b"),
        ("http://Bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://example.com./", "http://example.com/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://[::FFFF:7F00:1]:8080/", "http://[::ffff:7f00:1]:8080/"),
        ("  http://example.com/a\n  ", "http://example.com/a"),
        ("http://user:p%61ss@example.com/", "http://user:pass@example.com/"),
        ("http://example.com/a?b=2&a=1", "http://example.com/a?b=2&a=1"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "mailto:x@example.com",
        "ftp://example.com/",
        "example.com/a",
        "http:///a",
        "http://[::1",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:abc/",
        "http://999.1.1.1/",
        "",
    ],
)
def test_normalize_rejects(bad: str) -> None:
    with pytest.raises(InvalidURL):
        normalize(bad)
    assert try_normalize(bad) is None


def test_query_rules() -> None:
    opts = NormalizeOptions(drop_params=DEFAULT_TRACKING_PARAMS, sort_query=True)
    url = "http://example.com/p?utm_source=x&b=2&fbclid=z&a=1&utm_medium=y"
    assert normalize(url, opts) == "http://example.com/p?a=1&b=2"
    assert normalize("http://example.com/p?utm_source=x", opts) == "http://example.com/p"
    regex = NormalizeOptions(drop_params=("re:session(id)?", "ref"))
    assert normalize("http://e.com/?sessionid=1&ref=2&refx=3", regex) == "http://e.com/?refx=3"
    # empty parameters are dropped only when rewriting
    assert (
        normalize("http://e.com/?a=1&&b=2", NormalizeOptions(sort_query=True))
        == "http://e.com/?a=1&b=2"
    )
    assert normalize("http://e.com/?a=1&&b=2") == "http://e.com/?a=1&&b=2"


def test_resolve_examples() -> None:
    base = "http://example.com/docs/page.html?x=1"
    assert resolve(base, "other.html") == "http://example.com/docs/other.html"
    assert resolve(base, "../up.html") == "http://example.com/up.html"
    assert resolve(base, "/root") == "http://example.com/root"
    assert resolve(base, "//cdn.example.org/x") == "http://cdn.example.org/x"
    assert resolve(base, "?y=2") == "http://example.com/docs/page.html?y=2"
    assert resolve(base, "#frag") == "http://example.com/docs/page.html?x=1"
    assert resolve(base, "") == "http://example.com/docs/page.html?x=1"
    assert resolve(base, "  sub/a.html#x \n") == "http://example.com/docs/sub/a.html"
    assert resolve(base, "HTTPS://EXAMPLE.com:443/A") == "https://example.com/A"
    assert resolve(base, "..\\win.html") == "http://example.com/win.html"
    assert resolve(base, "..//..") == "http://example.com/"


@pytest.mark.parametrize(
    "href",
    [
        "mailto:someone@example.com",
        "javascript:void(0)",
        "JavaScript:alert(1)",
        "tel:+123",
        "data:text/html,hi",
        "file:///etc/passwd",
        "ftp://example.com/f",
        "http://[::1",
        "http://exa mple.com/",
        "localhost:8080/x",
    ],
)
def test_resolve_refuses(href: str) -> None:
    assert resolve("http://example.com/a/", href) is None


def test_resolve_bad_base() -> None:
    assert resolve("not a url", "x.html") is None
    assert resolve("mailto:x", "x.html") is None


_url_chars = st.sampled_from(
    [*list("abcXYZ019-._~:/?#[]@!$&'()*+,;=% \\é中\t\n"), "%2e", "%41", "%zz", ".."]
)
_urlish = st.builds(
    lambda scheme, host, port, rest: f"{scheme}://{host}{port}{rest}",
    st.sampled_from(["http", "HTTPS", "Http"]),
    st.sampled_from(
        [
            "example.com",
            "EXAMPLE.com.",
            "xn--bcher-kva.example",
            "Bücher.example",
            "127.0.0.1",
            "[::1]",
            "0x7f.1",
            "a-b.c",
        ]
    ),
    st.sampled_from(["", ":80", ":443", ":8080", ":"]),
    st.lists(_url_chars, max_size=30).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(_urlish, st.booleans())
def test_normalize_idempotent(url: str, sort: bool) -> None:
    opts = NormalizeOptions(drop_params=("utm_*",), sort_query=sort)
    first = try_normalize(url, opts)
    if first is not None:
        assert normalize(first, opts) == first
        assert first == first.strip()
        assert "#" not in first


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60), st.one_of(st.text(max_size=40), _urlish))
def test_resolve_never_raises(href: str, base: str) -> None:
    result = resolve(base, href)
    if result is not None:
        assert result.startswith(("http://", "https://"))
        assert normalize(result) == result
    assert resolve("http://example.com/a/b", href) is None or True


def test_host_of() -> None:
    assert host_of("http://user@Example.com:8080/x") == "example.com"
    assert host_of("http://[::1]:80/") == "[::1]"
    assert host_of("nonsense") == ""


class TestUrlFilter:
    def test_same_host_default(self) -> None:
        f = UrlFilter.from_config(["https://example.com/docs/"])
        assert f.check("https://example.com/other") is None
        assert f.check("http://example.com:8080/x") is None  # scheme and port are not scope
        assert f.check("https://www.example.com/x") is None  # www. is the same site
        assert f.check("https://sub.example.com/x") is SkipReason.OUT_OF_SCOPE
        assert f.check("https://example.org/") is SkipReason.OUT_OF_SCOPE
        assert f.check("mailto:a@example.com") is SkipReason.NON_HTTP

    def test_allowed_domains_include_subdomains(self) -> None:
        f = UrlFilter.from_config(
            "https://example.com/", allowed_domains=["example.com", "https://Docs.Other.org/x"]
        )
        assert f.allows("https://a.b.example.com/")
        assert f.allows("https://docs.other.org/")
        assert not f.allows("https://other.org/")
        assert f.check("https://notexample.com/") is SkipReason.OUT_OF_SCOPE

    def test_include_exclude(self) -> None:
        f = UrlFilter.from_config(
            ["https://example.com/"],
            include_patterns=[r"/docs/", r"/blog/\d+"],
            exclude_patterns=[r"\.pdf$", r"/docs/private/"],
        )
        assert f.check("https://example.com/docs/a.html") is None
        assert f.check("https://example.com/blog/12") is None
        assert f.check("https://example.com/docs/private/x") is SkipReason.EXCLUDED
        assert f.check("https://example.com/docs/a.pdf") is SkipReason.EXCLUDED
        assert f.check("https://example.com/shop/") is SkipReason.NOT_INCLUDED

    def test_check_raw(self) -> None:
        f = UrlFilter.from_config(["https://example.com/"])
        assert f.check_raw("javascript:void(0)") == (None, SkipReason.NON_HTTP)
        assert f.check_raw("http://[::1") == (None, SkipReason.INVALID)
        assert f.check_raw("HTTPS://EXAMPLE.COM/a#x") == ("https://example.com/a", None)

    def test_bad_regex_raises(self) -> None:
        with pytest.raises(re.error):
            UrlFilter.from_config(["https://example.com/"], include_patterns=["("])

    def test_reason_values(self) -> None:
        assert {r.value for r in SkipReason} >= {
            "out_of_scope",
            "excluded",
            "not_included",
            "robots",
            "budget",
            "non_http",
        }
        assert str(SkipReason.ROBOTS) == "robots"
