"""Static content and result types of the generated test site (see :mod:`tests.support.site`)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BINARIES",
    "DUP_QUERIES",
    "HOME_SPECIALS",
    "LEAF_PAGES",
    "MALFORMED_HREFS",
    "REDIRECTS",
    "WORDS",
    "ExpectedCrawl",
    "page_path",
]

PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]
MALFORMED_HREFS = (
    "http://[::1",
    "javascript:void(0)",
    "mailto:someone@example.com",
    "tel:+15551234",
    "data:text/html,hi",
    "ftp://example.com/file.txt",
    "..//..",
    "",
    "#top",
)
REDIRECTS: dict[str, tuple[int, str]] = {
    "/redirect/301": (301, "/r/target-301.html"),
    "/redirect/302": (302, "/r/target-302.html"),
    "/redirect/chain/1": (301, "/redirect/chain/2"),
    "/redirect/chain/2": (302, "/redirect/chain/3"),
    "/redirect/chain/3": (307, "/r/chain-end.html"),
    "/redirect/away": (302, "http://localhost:{port}/p/1.html"),
    "/redirect/loop-a": (302, "/redirect/loop-b"),
    "/redirect/loop-b": (302, "/redirect/loop-a"),
}
LEAF_PAGES = (
    "/r/target-301.html",
    "/r/target-302.html",
    "/r/chain-end.html",
    "/slow.html",
    "/flaky.html",
    "/latin1.html",
    "/dup.html",
    "/private/b.html",
)
BINARIES = {
    "/files/report.pdf": ("application/pdf", PDF_BYTES),
    "/files/image.png": ("image/png", PNG_BYTES),
    "/files/data.csv": ("text/csv", b"a,b\n1,2\n"),
}
HOME_SPECIALS = (
    "/private/a.html",
    "/redirect/301",
    "/redirect/302",
    "/redirect/chain/1",
    "/redirect/away",
    "/redirect/loop-a",
    "/missing.html",
    "/slow.html",
    "/huge.html",
    "/huge-stream.html",
    *BINARIES,
    "/latin1.html",
    "/flaky.html",
    "/based/index.html",
)
DUP_QUERIES = ("?a=1&b=2", "?b=2&a=1", "?a=1&b=2&utm_source=news", "?a=1&b=2#frag")


@dataclass(frozen=True)
class ExpectedCrawl:
    """What a correct crawler does on this site for given settings.

    ``saved``: normalised final URLs of the HTML documents it stores;
    ``depths``: link depth of each saved URL (redirects do not add depth);
    ``requested``: normalised URLs it may request (redirect hops and failures
    included, robots.txt excluded); ``robots_blocked``: URLs skipped because
    of robots.txt; ``failed``: URL → expected ``FetchError.reason``.
    """

    saved: frozenset[str]
    depths: dict[str, int]
    requested: frozenset[str]
    robots_blocked: frozenset[str]
    failed: dict[str, str] = field(default_factory=dict)


def page_path(i: int) -> str:
    """Path of generated page ``i`` (0 is ``/``)."""
    if i == 0:
        return "/"
    return f"/p/deep/{i}.html" if i % 5 == 0 else f"/p/{i}.html"
