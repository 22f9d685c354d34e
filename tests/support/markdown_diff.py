"""Differential check of HTML → markdown: does a CommonMark parser read our markdown back
as the page's visible text, links, code blocks and table grid?

The HTML side is an independent reference walk of the same content element the crawler
renders (after boilerplate removal): text nodes and image alt text in document order,
block elements and ``<br>`` as whitespace, ``<a href>`` as (text, absolute URL) pairs
(links to the page itself and non-HTTP links are text only, the crawler's policy),
``<pre>`` blocks line by line, tables as grids with ``rowspan``/``colspan`` applied.
The markdown side is markdown-it-py (CommonMark + GFM tables and strikethrough).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from selectolax.lexbor import LexborHTMLParser, LexborNode

from quaero.crawler.extract import content_root, extract
from quaero.crawler.urls import resolve

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# HTML's block-level elements (CSS display other than inline by default)
_BLOCK_NAMES = (
    "address article aside blockquote body caption center col colgroup dd details dialog dir "
    "div dl dt fieldset figcaption figure footer form frameset h1 h2 h3 h4 h5 h6 header hgroup "
    "hr html legend li listing main menu nav ol optgroup option p plaintext pre search section "
    "summary table tbody td tfoot th thead tr ul xmp"
)
BLOCK = frozenset(_BLOCK_NAMES.split())
# not rendered: invisible, or not content (form controls, media, embedded documents)
_SKIP_NAMES = (
    "-comment script style noscript template head title meta link base svg iframe object embed "
    "canvas button select textarea input nav aside form footer dialog map audio video"
)
SKIP = frozenset(_SKIP_NAMES.split())
PRE = frozenset({"pre", "listing", "xmp", "plaintext"})
# phrasing content (and legacy inline elements): a <pre> inside one is not a block
_PHRASING_NAMES = (
    "a abbr acronym b bdi bdo big br cite code data del dfn em font i img ins kbd label mark "
    "nobr q rp rt ruby s samp small span strike strong sub sup time tt u var wbr"
)
PHRASING = frozenset(_PHRASING_NAMES.split())
NOT_BLOCK_CONTEXT = PHRASING | {"td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "p"}


@dataclass
class View:
    """What a reader gets from a page: words, links, code blocks, tables."""

    words: list[str] = field(default_factory=list)
    links: set[tuple[str, str]] = field(default_factory=set)
    pres: list[str] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)


def _collapse(text: str) -> str:
    return " ".join(text.split())


class _HtmlWalker:
    def __init__(self, base: str, page_url: str) -> None:
        self.base = base
        self.page_url = page_url
        self.view = View()

    def run(self, root: LexborNode) -> View:
        parts: list[str] = []
        self.walk(root, parts, block_context=True)
        self.view.words = "".join(parts).split()
        return self.view

    def text_of(self, node: LexborNode, br: str = " ") -> str:
        parts: list[str] = []
        self.walk(node, parts, block_context=False, record=False, br=br)
        return "".join(parts)

    def walk(
        self,
        node: LexborNode,
        parts: list[str],
        *,
        block_context: bool,
        record: bool = True,
        br: str = " ",
    ) -> None:
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                parts.append(child.text_content or "")
            elif tag == "br":
                parts.append(br)
            elif tag == "img":
                parts.append(_collapse(child.attributes.get("alt") or ""))
            elif tag in SKIP:
                pass
            elif tag in PRE and block_context and record:
                text = self.text_of(child, br="\n")
                if text.strip():
                    self.view.pres.append(text.rstrip().lstrip("\n"))
                parts.append(" " + text + " ")
            else:
                if tag == "a" and record:
                    self._link(child)
                if tag == "table" and record and block_context:
                    self._table(child)
                inner_block = block_context and tag not in NOT_BLOCK_CONTEXT
                if tag in BLOCK:
                    parts.append(" ")
                self.walk(child, parts, block_context=inner_block, record=record, br=br)
                if tag in BLOCK:
                    parts.append(" ")
            child = child.next

    def _link(self, node: LexborNode) -> None:
        href = node.attributes.get("href")
        if href is None:
            return
        url = resolve(self.base, href)
        text = _collapse(self.text_of(node))
        if url is None or url == self.page_url or not text:
            return
        self.view.links.add((text, PARSER.normalizeLink(url)))

    def _table(self, table: LexborNode) -> None:
        if len(table.css("td, th")) <= 1:
            return  # one-cell tables are layout
        grid: dict[tuple[int, int], str] = {}
        r = 0
        for tr in _rows(table):
            c = 0
            cell = tr.first_child
            while cell is not None:
                if cell.tag in ("td", "th"):
                    while (r, c) in grid:
                        c += 1
                    colspan = _span(cell.attributes.get("colspan"), 50)
                    rowspan = _span(cell.attributes.get("rowspan"), 1000)
                    for dr in range(rowspan):
                        for dc in range(colspan):
                            grid[(r + dr, c + dc)] = ""
                    grid[(r, c)] = _collapse(self.text_of(cell))
                    c += colspan
                cell = cell.next
            r += 1
        if not grid:
            return
        rows = max(k[0] for k in grid) + 1
        cols = max(k[1] for k in grid) + 1
        rows = min(rows, r)  # rowspans past the last row add no rows
        self.view.tables.append([[grid.get((i, j), "") for j in range(cols)] for i in range(rows)])


def _rows(table: LexborNode) -> list[LexborNode]:
    out = []
    child = table.first_child
    while child is not None:
        if child.tag == "tr":
            out.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            out.extend(_rows(child))
        child = child.next
    return out


def _span(value: str | None, limit: int) -> int:
    if value is None or not value.strip().isdigit():
        return 1
    return min(max(int(value.strip()), 1), limit)


def html_view(html: str, base: str, page_url: str) -> View:
    """The reference view of the content the crawler renders for this page."""
    root = content_root(LexborHTMLParser(html))
    if root is None:
        return View()
    return _HtmlWalker(base, page_url).run(root)


def markdown_view(markdown: str) -> View:
    """What a CommonMark (+ GFM tables) parser reads from our markdown."""
    view = View()
    parts: list[str] = []
    table: list[list[str]] | None = None
    row: list[str] | None = None
    for tok in PARSER.parse(markdown):
        if tok.type in ("fence", "code_block"):
            view.pres.append(tok.content.rstrip())
            parts.append(" " + tok.content + " ")
        elif tok.type == "inline":
            text = _inline(tok.children or [], view)
            parts.append(text)
            if row is not None:
                row.append(_collapse(text))
        elif tok.type in ("html_block",):
            parts.append(" <HTML> " + tok.content)
        elif tok.type == "table_open":
            table = []
        elif tok.type == "table_close":
            if table is not None:
                width = max(len(r) for r in table)
                view.tables.append([r + [""] * (width - len(r)) for r in table])
            table = None
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close":
            if table is not None and row is not None:
                table.append(row)
            row = None
        else:
            parts.append(" ")
    view.words = "".join(parts).split()
    return view


def _inline(children: list[Token], view: View) -> str:
    parts: list[str] = []
    links: list[tuple[int, str]] = []  # (start in parts, href) of open links
    for tok in children:
        if tok.type == "text" or tok.type == "code_inline":
            parts.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif tok.type == "image":
            parts.append(_inline(tok.children or [], View()))
        elif tok.type == "html_inline":
            parts.append("<HTML>" + tok.content)
        elif tok.type == "link_open":
            links.append((len(parts), str(tok.attrs.get("href", ""))))
        elif tok.type == "link_close":
            start, href = links.pop()
            view.links.add((_collapse("".join(parts[start:])), href))
    return "".join(parts)


@dataclass
class Mismatch:
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


def compare(html: str, url: str) -> tuple[str, list[Mismatch]]:
    """Render ``html`` as the crawler does and compare the two views; returns the
    markdown and the mismatches (empty when the markdown means what the page meant)."""
    page = extract(html, url)
    ref = html_view(html, page.base_url, page.url)
    got = markdown_view(page.markdown)
    out: list[Mismatch] = []
    if ref.words != got.words:
        i = next(
            (k for k, (a, b) in enumerate(zip(ref.words, got.words, strict=False)) if a != b),
            min(len(ref.words), len(got.words)),
        )
        out.append(
            Mismatch(
                "text",
                f"at word {i}: html {ref.words[max(0, i - 5) : i + 5]!r} "
                f"vs markdown {got.words[max(0, i - 5) : i + 5]!r}",
            )
        )
    if ref.links != got.links:
        out.append(
            Mismatch(
                "links",
                f"only in html {sorted(ref.links - got.links)[:5]!r}, "
                f"only in markdown {sorted(got.links - ref.links)[:5]!r}",
            )
        )
    if ref.pres != got.pres:
        pairs = [(a, b) for a, b in zip(ref.pres, got.pres, strict=False) if a != b]
        out.append(
            Mismatch(
                "pre", f"{len(ref.pres)} vs {len(got.pres)} blocks; first difference {pairs[:1]!r}"
            )
        )
    if ref.tables != got.tables:
        pairs = [(a, b) for a, b in zip(ref.tables, got.tables, strict=False) if a != b]
        out.append(
            Mismatch(
                "table",
                f"{len(ref.tables)} vs {len(got.tables)} tables; first difference {pairs[:1]!r}",
            )
        )
    return page.markdown, out
