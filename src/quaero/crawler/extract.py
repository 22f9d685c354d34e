"""HTML → markdown of the main content, plus page metadata and links.

:func:`extract` parses once with selectolax's Lexbor parser (C, fast) and
walks the tree with the small renderer in :mod:`quaero.crawler.markdown`.

1. From the whole document: title (``<title>``, else the first ``<h1>``),
   meta description (``name=description``, else ``og:description``),
   language (``<html lang>``), canonical URL (``<link rel=canonical>``),
   ``<base href>``, meta robots (``noindex`` / ``nofollow``) and every
   ``<a href>`` / ``<area href>``, resolved against the base URL and
   normalised, de-duplicated, in document order; navigation links are kept
   (they are how a crawler discovers pages), links back to the page itself
   and non-HTTP links are not.
2. Boilerplate is removed: ``script style noscript nav aside form svg
   template iframe ... footer`` elements, hidden elements (``hidden``,
   ``aria-hidden=true``, inline ``display:none``), and navigation by class or
   role (``.navheader``/``.navfooter`` of DocBook sites such as the
   PostgreSQL docs, ``.breadcrumb``, ``[role=navigation]`` ...). A ``<form>``
   holding most of the page (ASP.NET style) is unwrapped instead of dropped.
3. The main content is ``<main>``, ``[role=main]``, a single ``<article>``
   or a common content container (``#content``, ...), provided it holds at
   least 10 % of the body's text; otherwise ``<body>`` (and then page-level
   ``<header>`` elements are dropped too).
4. The main content is rendered as markdown; ``word_count`` counts the
   whitespace-separated words of its visible text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from quaero.crawler.markdown import MarkdownRenderer
from quaero.crawler.urls import NormalizeOptions, resolve, try_normalize

__all__ = [
    "ExtractedPage",
    "Link",
    "canonical_from_link_header",
    "content_root",
    "extract",
    "parse_refresh",
]

_DROP = (
    "script style noscript nav aside svg template iframe object embed canvas button select "
    "textarea input dialog footer map audio video"
)
_DROP_TAGS = _DROP.split()
_BOILERPLATE = (
    "[hidden], [aria-hidden=true], [style*='display:none'], [style*='display: none'], "
    "[style*='visibility:hidden'], [style*='visibility: hidden'], "
    ".navheader, .navfooter, .navbar, .navigation, .breadcrumb, .breadcrumbs, "
    ".skip-link, .skiplink, .sr-only, .visually-hidden, .sidebar, #sidebar, "
    "[role=navigation], [role=banner], [role=contentinfo], [role=complementary], [role=search]"
)
_MAIN = (
    "main, [role=main], article, #content, #main-content, #main, .main-content, .post-content, "
    ".entry-content, .article-body"
)
_MAIN_CANDIDATES = _MAIN.split(", ")
_MIN_MAIN_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class Link:
    """A link found on a page."""

    url: str  #: absolute, normalised http(s) URL, fragment removed
    text: str  #: anchor text, whitespace collapsed ("" for images without alt)
    nofollow: bool = False  #: every occurrence had ``rel=nofollow``


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """Everything the crawler keeps from one HTML page."""

    url: str  #: the page URL (normalised)
    title: str
    description: str
    language: str | None
    canonical_url: str | None
    markdown: str
    word_count: int
    links: list[Link] = field(default_factory=list)
    base_url: str = ""  #: URL relative links were resolved against
    noindex: bool = False  #: ``<meta name=robots content=noindex>`` (or ``none``)
    nofollow: bool = False  #: ``<meta name=robots content=nofollow>`` (or ``none``)
    #: ``<meta http-equiv=refresh content="N; url=...">``: (delay in seconds, absolute URL)
    refresh: tuple[float, str] | None = None


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """Drop nodes nested in another node of the list (decomposing both would double free)."""
    if len(nodes) < 2:
        return nodes
    ids = {n.mem_id for n in nodes}
    keep = []
    for node in nodes:
        parent = node.parent
        nested = False
        while parent is not None:
            if parent.mem_id in ids:
                nested = True
                break
            parent = parent.parent
        if not nested:
            keep.append(node)
    return keep


def _head_info(tree: LexborHTMLParser) -> dict[str, str]:
    info: dict[str, str] = {}
    for node in tree.css("title, meta, link[rel], base[href]"):
        tag = node.tag
        if tag == "title":
            if "title" not in info:
                info["title"] = _collapse(node.text(deep=True))
            continue
        attrs = node.attributes
        if tag == "meta":
            name = (attrs.get("name") or attrs.get("property") or "").lower()
            content = attrs.get("content") or ""
            equiv = (attrs.get("http-equiv") or "").strip().lower()
            if equiv == "refresh" and "refresh" not in info:
                info["refresh"] = content
            if name == "description" and "description" not in info:
                info["description"] = _collapse(content)
            elif name == "og:description" and "og_description" not in info:
                info["og_description"] = _collapse(content)
            elif name in ("robots", "quaerobot"):
                info["robots"] = info.get("robots", "") + "," + content.lower()
        elif tag == "link":
            rels = (attrs.get("rel") or "").lower().split()
            if "canonical" in rels and "canonical" not in info:
                info["canonical"] = attrs.get("href") or ""
        elif tag == "base" and "base" not in info:
            info["base"] = attrs.get("href") or ""
    return info


_REFRESH_RE = re.compile(
    r"""^\s*(\d*\.?\d*)\s*(?:[;,]\s*(?:url\s*=\s*)?(["']?)(.*?)\2\s*)?$""",
    re.IGNORECASE | re.DOTALL,
)


def parse_refresh(content: str) -> tuple[float, str] | None:
    """``"0; URL='/home/'"`` → ``(0.0, "/home/")``; ``None`` without a target URL."""
    m = _REFRESH_RE.match(content)
    if m is None or not m.group(3) or not m.group(3).strip():
        return None
    delay = float(m.group(1)) if m.group(1) and m.group(1) != "." else 0.0
    return delay, m.group(3).strip()


_LINK_HEADER_RE = re.compile(r"<([^>]*)>\s*((?:;[^,;]*)*)")
_REL_CANONICAL_RE = re.compile(r"""\brel\s*=\s*["']?[^"']*\bcanonical\b""", re.IGNORECASE)


def canonical_from_link_header(
    value: str | None, base: str, options: NormalizeOptions | None = None
) -> str | None:
    """The ``rel="canonical"`` target of an HTTP ``Link`` header, absolute and
    normalised; ``None`` when there is none."""
    if not value or "canonical" not in value.lower():
        return None
    for m in _LINK_HEADER_RE.finditer(value):
        if _REL_CANONICAL_RE.search(m.group(2)):
            return resolve(base, m.group(1).strip(), options)
    return None


def _links(
    tree: LexborHTMLParser, base: str, self_url: str, options: NormalizeOptions | None
) -> tuple[list[Link], dict[str, str | None]]:
    resolved: dict[str, str | None] = {}
    found: dict[str, Link] = {}
    for node in tree.css("a[href], area[href]"):
        attrs = node.attributes
        href = attrs.get("href")
        if href is None:
            continue
        if href in resolved:
            url = resolved[href]
        else:
            url = resolved[href] = resolve(base, href, options)
        if url is None or url == self_url:
            continue
        rel = attrs.get("rel")
        nofollow = rel is not None and "nofollow" in rel.lower().split()
        prev = found.get(url)
        if prev is None:
            text = (
                _collapse(node.text(deep=True, separator=" "))
                if node.tag == "a"
                else (attrs.get("alt") or "")
            )
            if not text and node.tag == "a":
                img = node.css_first("img[alt]")
                if img is not None:
                    text = _collapse(img.attributes.get("alt") or "")
            found[url] = Link(url, text, nofollow)
        elif prev.nofollow and not nofollow:
            found[url] = Link(url, prev.text, False)
    return list(found.values()), resolved


def _remove_boilerplate(tree: LexborHTMLParser, body: LexborNode) -> None:
    body_len = len(body.text(deep=True))
    for form in _outermost(tree.css("form")):
        if body_len and len(form.text(deep=True)) > body_len / 2:
            form.unwrap()
        else:
            form.decompose()
    tree.strip_tags(_DROP_TAGS)
    for node in _outermost(tree.css(_BOILERPLATE)):
        node.decompose()


def _main_content(tree: LexborHTMLParser, body: LexborNode) -> LexborNode:
    body_len = len(body.text(deep=True).strip())
    threshold = body_len * _MIN_MAIN_SHARE
    for selector in _MAIN_CANDIDATES:
        nodes = tree.css(selector)
        if not nodes or (selector == "article" and len(nodes) > 1):
            continue
        node = nodes[0]
        if len(node.text(deep=True).strip()) >= threshold:
            return node
    return body


def content_root(tree: LexborHTMLParser) -> LexborNode | None:
    """Remove boilerplate from a parsed page (in place) and return its main content
    element (``None`` for a document without a body): what :func:`extract` renders."""
    body = tree.body
    if body is None:
        return None
    _remove_boilerplate(tree, body)
    main = _main_content(tree, body)
    if main.tag == "body":
        for header in _outermost(main.css("header")):
            header.decompose()
    return main


def extract(
    html: str,
    url: str,
    *,
    url_options: NormalizeOptions | None = None,
) -> ExtractedPage:
    """Extract markdown, metadata and links from an HTML document fetched from ``url``.

    ``url_options`` is applied when normalising links (e.g. to drop tracking
    parameters). Never raises on bad HTML; an empty document gives an empty page.
    """
    page_url = try_normalize(url, url_options) or url
    tree = LexborHTMLParser(html)
    info = _head_info(tree)
    base = page_url
    if info.get("base"):
        base = resolve(page_url, info["base"]) or page_url
    canonical = resolve(base, info["canonical"], url_options) if info.get("canonical") else None
    links, resolved = _links(tree, base, page_url, url_options)
    root = tree.root
    language = None
    if root is not None:
        attrs = root.attributes
        language = (attrs.get("lang") or attrs.get("xml:lang") or "").strip() or None
    robots = {token.strip() for token in info.get("robots", "").split(",")}
    refresh = parse_refresh(info["refresh"]) if info.get("refresh") else None
    refresh_target = resolve(base, refresh[1], url_options) if refresh is not None else None

    markdown = ""
    word_count = 0
    first_h1 = ""
    main = content_root(tree)
    if main is not None:
        renderer = MarkdownRenderer(base, page_url, resolved, url_options)
        markdown = renderer.render(main)
        first_h1 = renderer.first_h1
        word_count = len(main.text(deep=True, separator=" ").split())
    title = info.get("title") or first_h1
    body = tree.body
    if not title and body is not None:
        h1 = body.css_first("h1")
        title = _collapse(h1.text(deep=True)) if h1 is not None else ""
    return ExtractedPage(
        url=page_url,
        title=title,
        description=info.get("description") or info.get("og_description") or "",
        language=language,
        canonical_url=canonical,
        markdown=markdown,
        word_count=word_count,
        links=links,
        base_url=base,
        noindex="noindex" in robots or "none" in robots,
        nofollow="nofollow" in robots or "none" in robots,
        refresh=(refresh[0], refresh_target) if refresh is not None and refresh_target else None,
    )
