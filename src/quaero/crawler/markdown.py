"""A small, fast HTML-tree → markdown renderer over selectolax Lexbor nodes.

Supported: headings (``#``), paragraphs, nested ordered/unordered lists
(``<ol start>`` honoured), ``<pre>`` as fenced code blocks (language from a
``language-*``/``lang-*``/``highlight-*``/``sourceCode *`` class on the
``<pre>``, its ``<code>`` or parent), inline code, emphasis/strong, links
with absolute URLs, images (``![alt](src)``; images without alt are
decorative and dropped), GFM pipe tables (first row is the header; colspan
repeated), blockquotes, definition lists (``term`` / ``: definition``),
horizontal rules and line breaks. Unknown elements are block containers.

Text is not markdown-escaped (except ``|`` in table cells): the output is
meant for reading, search and LLMs, and escaping ``_`` in identifiers like
``pg_stat_activity`` would hurt all three.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from quaero.crawler.urls import NormalizeOptions, resolve

__all__ = ["MarkdownRenderer"]

_INLINE_TAGS = (
    "a abbr acronym b bdi bdo big br cite code data del dfn em font i img ins kbd label mark "
    "nobr q rp rt ruby s samp small span strike strong sub sup time tt u var wbr"
)
_SKIP_TAGS = (
    "-comment script style noscript template head title meta link base svg iframe object embed "
    "canvas button select textarea input nav aside form footer dialog map audio video"
)
_INLINE = frozenset(_INLINE_TAGS.split())
_SKIP = frozenset(_SKIP_TAGS.split())
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_LANG_RE = re.compile(
    r"(?:^|\s)(?:language-|lang-|highlight-source-|highlight-|brush:\s*|sourceCode\s+)([\w+#.\-]+)"
)
_LIST_START_RE = re.compile(r"^(?:[-*+]|\d+\.) ")
_BREAK = "\x00"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _code_span(text: str) -> str:
    text = _collapse(text)
    if not text:
        return ""
    if "`" not in text:
        return f"`{text}`"
    longest = max(len(m) for m in re.findall(r"`+", text))
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _language(node: LexborNode) -> str:
    for candidate in (node, node.first_child, node.parent):
        if candidate is None or candidate.tag in ("-text", "-comment"):
            continue
        cls = candidate.attributes.get("class")
        if cls:
            m = _LANG_RE.search(cls)
            if m and m.group(1).lower() not in ("source", "text", "plain", "none"):
                return m.group(1).lower()
    return ""


class MarkdownRenderer:
    """Renders one element subtree to markdown.

    ``resolved`` maps raw ``href`` values to absolute URLs (the link pass
    of :func:`quaero.crawler.extract.extract` fills it, so links are resolved
    once); missing entries are resolved against ``base``.
    """

    def __init__(
        self,
        base: str,
        page_url: str,
        resolved: dict[str, str | None] | None = None,
        options: NormalizeOptions | None = None,
    ) -> None:
        self.base = base
        self.page_url = page_url
        self.resolved = resolved if resolved is not None else {}
        self.options = options
        self.first_h1 = ""

    def render(self, node: LexborNode) -> str:
        """Return the markdown for ``node``'s content."""
        out: list[str] = []
        self._blocks(node, out)
        return "\n\n".join(out)

    # ------------------------------------------------------------------ blocks

    def _blocks(self, node: LexborNode, out: list[str]) -> None:
        buf: list[str] = []
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                buf.append(child.text_content or "")
            elif tag in _INLINE:
                self._inline_el(child, tag, buf)
            elif tag not in _SKIP:
                if buf:
                    self._flush(buf, out)
                    buf = []
                self._block_el(child, tag, out)
            child = child.next
        if buf:
            self._flush(buf, out)

    def _flush(self, buf: list[str], out: list[str]) -> None:
        text = _collapse("".join(buf))
        if not text:
            return
        if _BREAK in text:
            lines = [line.strip() for line in text.split(_BREAK)]
            text = "\n".join(line for line in lines if line)
            if not text:
                return
        out.append(text)

    def _block_el(self, node: LexborNode, tag: str, out: list[str]) -> None:
        level = _HEADINGS.get(tag)
        if level is not None:
            text = self._inline_text(node).replace("\n", " ")
            if text:
                out.append("#" * level + " " + text)
                if level == 1 and not self.first_h1:
                    self.first_h1 = text
        elif tag == "p":
            buf: list[str] = []
            self._inline_children(node, buf)
            self._flush(buf, out)
        elif tag == "ul" or tag == "ol" or tag == "menu":
            self._list(node, tag == "ol", out)
        elif tag == "pre":
            self._pre(node, out)
        elif tag == "table":
            self._table(node, out)
        elif tag == "blockquote":
            sub: list[str] = []
            self._blocks(node, sub)
            if sub:
                out.append(
                    "\n".join("> " + line if line else ">" for line in "\n\n".join(sub).split("\n"))
                )
        elif tag == "dl":
            self._dl(node, out)
        elif tag == "hr":
            out.append("---")
        else:
            self._blocks(node, out)

    def _list(self, node: LexborNode, ordered: bool, out: list[str]) -> None:
        number = 1
        if ordered:
            start = node.attributes.get("start")
            if start and start.strip().lstrip("-").isdigit():
                number = int(start)
        items: list[str] = []
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "li":
                sub: list[str] = []
                self._blocks(child, sub)
                marker = f"{number}." if ordered else "-"
                number += 1
                if sub:
                    items.append(self._indent_item(marker, sub))
            elif tag in ("ul", "ol"):
                sub = []
                self._list(child, tag == "ol", sub)
                if sub:
                    nested = "\n".join("  " + line if line else "" for line in sub[0].split("\n"))
                    if items:
                        items[-1] += "\n" + nested
                    else:
                        items.append(nested)
            child = child.next
        if items:
            out.append("\n".join(items))

    @staticmethod
    def _indent_item(marker: str, blocks: list[str]) -> str:
        body = blocks[0]
        for block in blocks[1:]:
            body += ("\n" if _LIST_START_RE.match(block) else "\n\n") + block
        pad = " " * (len(marker) + 1)
        lines = body.split("\n")
        return "\n".join(
            [f"{marker} {lines[0]}"] + [pad + line if line else "" for line in lines[1:]]
        )

    def _pre(self, node: LexborNode, out: list[str]) -> None:
        text = node.text(deep=True).rstrip()
        while text.startswith("\n"):
            text = text[1:]
        if not text.strip():
            return
        fence = "```"
        while fence in text:
            fence += "`"
        out.append(f"{fence}{_language(node)}\n{text}\n{fence}")

    def _rows(self, node: LexborNode, rows: list[list[str]], caption: list[str]) -> None:
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "tr":
                row: list[str] = []
                cell = child.first_child
                while cell is not None:
                    if cell.tag in ("td", "th"):
                        text = self._inline_text(cell).replace("\n", " ").replace("|", "\\|")
                        row.append(text)
                        span = cell.attributes.get("colspan")
                        if span and span.isdigit():
                            row.extend([""] * min(int(span) - 1, 50))
                    cell = cell.next
                if row:
                    rows.append(row)
            elif tag in ("thead", "tbody", "tfoot"):
                self._rows(child, rows, caption)
            elif tag == "caption":
                text = self._inline_text(child)
                if text:
                    caption.append(text)
            child = child.next

    def _table(self, node: LexborNode, out: list[str]) -> None:
        rows: list[list[str]] = []
        caption: list[str] = []
        self._rows(node, rows, caption)
        out.extend(caption)
        if not rows:
            return
        width = max(len(r) for r in rows)
        if width == 1 and len(rows) <= 1:
            # a layout table with one cell: keep its content as blocks
            cell = node.css_first("td, th")
            if cell is not None:
                self._blocks(cell, out)
            return
        lines = []
        for i, row in enumerate(rows):
            row = row + [""] * (width - len(row))
            lines.append("| " + " | ".join(row) + " |")
            if i == 0:
                lines.append("|" + " --- |" * width)
        out.append("\n".join(lines))

    def _dl(self, node: LexborNode, out: list[str]) -> None:
        parts: list[str] = []
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "dt":
                text = self._inline_text(child).replace("\n", " ")
                if text:
                    parts.append(("\n\n" if parts else "") + text)
            elif tag == "dd":
                sub: list[str] = []
                self._blocks(child, sub)
                if sub:
                    lines = "\n\n".join(sub).split("\n")
                    parts.append(
                        "\n: "
                        + lines[0]
                        + "".join("\n  " + line if line else "\n" for line in lines[1:])
                    )
            elif tag == "div":  # HTML5 allows <div> groups of dt/dd
                self._dl(child, parts)
            child = child.next
        if parts:
            out.append("".join(parts).strip("\n"))

    # ------------------------------------------------------------------ inline

    def _inline_text(self, node: LexborNode) -> str:
        buf: list[str] = []
        self._inline_children(node, buf)
        text = _collapse("".join(buf))
        if _BREAK in text:
            text = "\n".join(p.strip() for p in text.split(_BREAK) if p.strip())
        return text

    def _inline_children(self, node: LexborNode, buf: list[str]) -> None:
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                buf.append(child.text_content or "")
            elif tag not in _SKIP:
                self._inline_el(child, tag, buf)
            child = child.next

    def _wrap(self, node: LexborNode, buf: list[str], mark: str) -> None:
        sub: list[str] = []
        self._inline_children(node, sub)
        raw = "".join(sub)
        inner = _collapse(raw)
        if not inner:
            if raw:
                buf.append(" ")
            return
        lead = " " if raw[0].isspace() else ""
        trail = " " if raw[-1].isspace() else ""
        buf.append(f"{lead}{mark}{inner}{mark}{trail}")

    def _inline_el(self, node: LexborNode, tag: str, buf: list[str]) -> None:
        if tag == "a":
            self._link(node, buf)
        elif tag == "strong" or tag == "b":
            self._wrap(node, buf, "**")
        elif tag == "em" or tag == "i" or tag == "cite" or tag == "dfn":
            self._wrap(node, buf, "*")
        elif tag == "code" or tag == "kbd" or tag == "samp" or tag == "tt":
            raw = node.text(deep=True)
            span = _code_span(raw)
            if span:
                lead = " " if raw[:1].isspace() else ""
                trail = " " if raw[-1:].isspace() else ""
                buf.append(f"{lead}{span}{trail}")
        elif tag == "br":
            buf.append(_BREAK)
        elif tag == "img":
            self._image(node, buf)
        elif tag == "del" or tag == "s" or tag == "strike":
            self._wrap(node, buf, "~~")
        elif tag in _HEADINGS or tag == "p" or tag == "div" or tag == "li" or tag == "tr":
            buf.append(" ")
            self._inline_children(node, buf)
            buf.append(" ")
        elif tag == "pre":
            buf.append(" " + _code_span(node.text(deep=True)) + " ")
        else:
            self._inline_children(node, buf)

    def _href(self, href: str) -> str | None:
        if href in self.resolved:
            return self.resolved[href]
        url = self.resolved[href] = resolve(self.base, href, self.options)
        return url

    def _link(self, node: LexborNode, buf: list[str]) -> None:
        sub: list[str] = []
        self._inline_children(node, sub)
        raw = "".join(sub)
        text = _collapse(raw).replace(_BREAK, " ")
        href = node.attributes.get("href")
        url = self._href(href) if href is not None else None
        if not text:
            return
        lead = " " if raw[:1].isspace() else ""
        trail = " " if raw[-1:].isspace() else ""
        if url is None or url == self.page_url:
            buf.append(f"{lead}{text}{trail}")
        else:
            buf.append(f"{lead}[{text}]({url}){trail}")

    def _image(self, node: LexborNode, buf: list[str]) -> None:
        attrs = node.attributes
        alt = _collapse(attrs.get("alt") or "")
        if not alt:
            return
        src = attrs.get("src") or ""
        url = self._href(src) if src and not src.startswith("data:") else None
        buf.append(f"![{alt}]({url})" if url else alt)
