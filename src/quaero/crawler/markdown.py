"""A small, fast HTML-tree → CommonMark renderer over selectolax Lexbor nodes.

The output reads back through a CommonMark parser (with the GFM table and
strikethrough extensions) as the page's visible text and links: the
differential test in ``tests/unit/crawler/test_markdown_roundtrip.py`` checks
this over the PostgreSQL manual and generated pages.

Supported: headings (``#``), paragraphs with hard line breaks (``\\`` at the
end of a line), nested ordered/unordered lists (``<ol start>`` honoured;
adjacent lists alternate their markers so they stay separate lists),
``<pre>`` as fenced code blocks keeping every line (``<br>`` included;
language from a ``language-*``/``lang-*``/``highlight-*``/``sourceCode *``
class on the ``<pre>``, its ``<code>`` or parent), inline code (adjacent code
elements merge), emphasis/strong/strikethrough (dropped where CommonMark's
flanking rules would not read them back, and inside another emphasis), links
with absolute URLs (``<…>`` destinations when a URL has parentheses), images
(``![alt](src)``; images without alt are decorative and dropped), GFM pipe
tables (first row is the header; ``rowspan``/``colspan`` leave empty cells so
every cell stays in its column), blockquotes, definition lists (terms and
definitions as paragraphs), horizontal rules. Elements that are neither known
blocks nor known inline elements (custom elements) are transparent, as a
browser's default ``display: inline`` makes them.

Text is escaped only where CommonMark would read it otherwise: ``\\ ` * [ ] | ~``
always, ``_`` unless inside a word (``pg_stat_activity`` stays readable), ``<`` before a
tag-like character, ``&`` before an entity-like name, ``!`` before a link, and at a line
start ``# > - + =`` and ``1.``/``1)``.
"""

from __future__ import annotations

import re
import unicodedata

from selectolax.lexbor import LexborNode

from quaero.crawler.urls import NormalizeOptions, resolve

__all__ = ["BLOCK_TAGS", "SKIP_TAGS", "MarkdownRenderer"]

_INLINE_TAGS = (
    "a abbr acronym b bdi bdo big br cite code data del dfn em font i img ins kbd label mark "
    "nobr q rp rt ruby s samp small span strike strong sub sup time tt u var wbr"
)
_SKIP_TAGS = (
    "-comment script style noscript template head title meta link base svg iframe object embed "
    "canvas button select textarea input nav aside form footer dialog map audio video"
)
_BLOCK_TAGS = (
    "address article blockquote body caption center col colgroup dd details dir div dl dt "
    "fieldset figcaption figure frameset h1 h2 h3 h4 h5 h6 header hgroup hr html legend li "
    "listing main menu ol optgroup option p plaintext pre search section summary table tbody "
    "td tfoot th thead tr ul xmp"
)
_INLINE = frozenset(_INLINE_TAGS.split())
#: elements whose content is not rendered (not visible, or not content)
SKIP_TAGS = frozenset(_SKIP_TAGS.split())
#: elements laid out as blocks; every other element is inline (CSS's default)
BLOCK_TAGS = frozenset(_BLOCK_TAGS.split())
_SKIP = SKIP_TAGS
_BLOCK = BLOCK_TAGS
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_LANG_RE = re.compile(
    r"(?:^|\s)(?:language-|lang-|highlight-source-|highlight-|brush:\s*|sourceCode\s+)([\w+#.\-]+)"
)
_LIST_START_RE = re.compile(r"^(?:[-*+]|\d+[.)]) ")
_ORDERED_RE = re.compile(r"^\d+([.)]) ")

# Sentinels in inline buffers, resolved by _finish once a block's text is known.
_BREAK = "\x00"
_EM, _EM_END, _STRONG, _STRONG_END, _DEL, _DEL_END = "\x01", "\x02", "\x03", "\x04", "\x05", "\x06"
_CODE, _CODE_END = "\x07", "\x08"
_OPENERS = {_EM: "*", _STRONG: "**", _DEL: "~~"}
_CLOSERS = frozenset({_EM_END, _STRONG_END, _DEL_END})
_SENTINEL_RE = re.compile("[\x01-\x08]")
_EMPH_RE = re.compile("[\x01-\x06]")
_EMPH_SPLIT_RE = re.compile("([\x01-\x06])")
_CODE_RE = re.compile("\x07([^\x08]*)\x08")

_ESC_RE = re.compile("[\\\\`*\\[\\]|_<&~!\x00-\x08]")
_TAG_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/!?")
_ENTITY_AT_RE = re.compile(r"#?[0-9A-Za-z]*(?:;|$)")
_LINE_START_RE = re.compile(r"^(?:#{1,6}(?=[ \t]|$)|[>+\-=]|\d{1,9}(?=[.)]))")
_HEADING_END_RE = re.compile(r"(?:^|[ \t])(#+)$")
_ENTITY_RE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_CONTROL_RE = re.compile("[\x00-\x08]")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _escape_match(m: re.Match[str]) -> str:
    c = m.group()
    if c < "\x09":
        return ""
    if c in "\\`*[]|~":
        return "\\" + c
    s, i = m.string, m.start()
    after = s[i + 1 : i + 2]
    if c == "_":
        # inside a word "_" can neither open nor close emphasis
        before = s[i - 1 : i]
        if before.isalnum() and after.isalnum():
            return c
    elif c == "<":
        if after and after not in _TAG_START:
            return c
    elif c == "&":
        if _ENTITY_AT_RE.match(s, i + 1) is None:
            return c
    elif c == "!" and after:  # "![" would start an image; "[" is escaped, a link may follow
        return c
    return "\\" + c


def _escape(text: str) -> str:
    """Escape text so CommonMark reads it back literally."""
    return _ESC_RE.sub(_escape_match, text)


def _escape_line_start(line: str) -> str:
    m = _LINE_START_RE.match(line)
    if m is None:
        return line
    end = m.end()
    if line[:1].isdigit():
        return line[:end] + "\\" + line[end:]
    return "\\" + line


def _is_space(c: str) -> bool:
    return not c or c in " \t\n\r\x0b\x0c\x00" or unicodedata.category(c) == "Zs"


def _is_punct(c: str) -> bool:
    return unicodedata.category(c)[0] in "PS"


def _code_span(text: str, in_table: bool = False) -> str:
    if not text:
        return ""
    if in_table:
        text = text.replace("|", "\\|")
    if "`" not in text:
        return f"`{text}`"
    longest = max(len(m) for m in re.findall(r"`+", text))
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _finish(text: str, in_table: bool = False) -> str:
    """Resolve code and emphasis sentinels in one block's inline text."""
    if _SENTINEL_RE.search(text) is None:
        return text
    if _CODE in text:
        text = text.replace(_CODE_END + _CODE, "")  # adjacent code spans read as one
        text = _CODE_RE.sub(lambda m: _code_span(m.group(1), in_table), text)
    if _EMPH_RE.search(text) is None:
        return text
    # adjacent emphasis of one kind merges: *a**b* would not read back
    text = text.replace(_EM_END + _EM, "").replace(_STRONG_END + _STRONG, "")
    text = text.replace(_DEL_END + _DEL, "")
    parts = _EMPH_SPLIT_RE.split(text)
    out: list[str] = []
    prev = ""  # last character written
    after_closer = False  # the last thing written was a closing delimiter
    i, n = 0, len(parts)
    while i < n:
        part = parts[i]
        mark = _OPENERS.get(part)
        if mark is None:
            if part:
                out.append(part)
                prev = part[-1]
                after_closer = False
            i += 1
            continue
        inner = parts[i + 1] if i + 1 < n else ""
        # the next character written: an adjacent pair is written without delimiters
        nxt = ""
        for later in parts[i + 3 :]:
            if later and later not in _OPENERS and later not in _CLOSERS:
                nxt = later[0]
                break
        i += 3
        if not inner:
            continue
        first, last = inner[0], inner[-1]
        ok = (
            not after_closer
            and not _is_space(first)
            and not _is_space(last)
            and (not _is_punct(first) or _is_space(prev) or _is_punct(prev))
            and (not _is_punct(last) or _is_space(nxt) or _is_punct(nxt))
        )
        if ok:
            out.append(mark + inner + mark)
            prev = mark[-1]
            after_closer = True
        else:
            out.append(inner)
            prev = last
            after_closer = False
    return "".join(out)


def _destination(url: str) -> str:
    if "&" in url:
        url = _ENTITY_RE.sub(r"\\&", url)
    if "(" in url or ")" in url or " " in url:
        return "<" + url.replace("<", "%3C").replace(">", "%3E") + ">"
    return url


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


def _raw_text(node: LexborNode, parts: list[str], br: str) -> None:
    """Text of a subtree as written (``<br>`` as ``br``), for code."""
    child = node.first_child
    while child is not None:
        tag = child.tag or ""
        if tag == "-text":
            parts.append(child.text_content or "")
        elif tag == "br":
            parts.append(br)
        elif tag not in _SKIP:
            _raw_text(child, parts, br)
        child = child.next


def _interrupts(block: str) -> bool:
    """Whether a list block may follow a paragraph line directly: CommonMark lets only a
    bullet list or an ordered list starting at 1 interrupt a paragraph."""
    if _LIST_START_RE.match(block) is None:
        return False
    return not block[0].isdigit() or block.startswith(("1.", "1)"))


def _split_lines(text: str) -> list[str]:
    return [line for line in (p.strip() for p in text.split(_BREAK)) if line]


class MarkdownRenderer:
    """Renders one element subtree to markdown.

    ``resolved`` maps raw ``href`` values to absolute URLs (the link pass
    of :func:`quaero.crawler.extract.extract` fills it, so links are resolved
    once); missing entries are resolved against ``base``. Links to the page
    itself (``#fragment`` links) and to non-HTTP URLs keep their text only.
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
        self._emphasis = 0  # depth of emphasis being rendered (nested ones are dropped)

    def render(self, node: LexborNode) -> str:
        """Return the markdown for ``node``'s content."""
        out: list[str] = []
        self._blocks(node, out)
        return "\n\n".join(out)

    # ------------------------------------------------------------------ blocks

    def _blocks(self, node: LexborNode, out: list[str]) -> None:
        buf: list[str] = []
        self._walk(node, buf, out)
        if buf:
            self._flush(buf, out)

    def _walk(self, node: LexborNode, buf: list[str], out: list[str]) -> None:
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                text = child.text_content
                if text:
                    buf.append(_ESC_RE.sub(_escape_match, text))
            elif tag in _INLINE:
                self._inline_el(child, tag, buf)
            elif tag in _BLOCK:
                if buf:
                    self._flush(buf, out)
                    buf.clear()
                self._block_el(child, tag, out)
            elif tag not in _SKIP:
                self._walk(child, buf, out)  # custom elements are inline: transparent
            child = child.next

    def _flush(self, buf: list[str], out: list[str]) -> None:
        text = _finish(_collapse("".join(buf)))
        if not text:
            return
        lines = _split_lines(text) if _BREAK in text else [text]
        if lines:
            out.append("\\\n".join(_escape_line_start(line) for line in lines))

    def _block_el(self, node: LexborNode, tag: str, out: list[str]) -> None:
        level = _HEADINGS.get(tag)
        if level is not None:
            text = self._inline_text(node)
            if text:
                m = _HEADING_END_RE.search(text)
                if m is not None:
                    text = text[: m.start(1)] + "\\" + text[m.start(1) :]
                out.append("#" * level + " " + text)
                if level == 1 and not self.first_h1:
                    self.first_h1 = _collapse(node.text(deep=True))
        elif tag == "p":
            buf: list[str] = []
            self._inline_children(node, buf)
            self._flush(buf, out)
        elif tag == "ul" or tag == "ol" or tag == "menu" or tag == "dir":
            self._list(node, tag == "ol", out)
        elif tag == "pre" or tag == "listing" or tag == "xmp" or tag == "plaintext":
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
        elif tag == "hr":
            out.append("---")
        else:
            self._blocks(node, out)

    def _list(self, node: LexborNode, ordered: bool, out: list[str]) -> None:
        number = 1
        if ordered:
            start = node.attributes.get("start")
            if start and start.strip().lstrip("-").isdigit():
                number = min(max(int(start), 0), 999_999_000)
        # a list right after another list of its kind would continue it: change the marker
        prev = out[-1] if out else ""
        delim, bullet = ".", "-"
        if ordered:
            m = _ORDERED_RE.match(prev)
            if m is not None and m.group(1) == ".":
                delim = ")"
        elif prev[:2] in ("- ", "* ", "+ "):
            bullet = "*" if prev[0] == "-" else "-"
        items: list[str] = []
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            sub: list[str] = []
            if tag == "ul" or tag == "ol":
                self._list(child, tag == "ol", sub)
                if sub and items:
                    # a list directly in a list belongs to the item before it
                    pad = " " * (items[-1].index(" ") + 1)
                    lines = sub[0].split("\n")
                    sep = "\n" if _interrupts(sub[0]) else "\n\n"
                    items[-1] += sep + "\n".join(pad + ln if ln else "" for ln in lines)
                    sub = []
            elif tag == "li" or tag in _BLOCK:
                self._blocks(child, sub)
            elif tag == "-text":
                text = child.text_content or ""
                if text.strip():
                    self._flush([_escape(text)], sub)
            elif tag in _INLINE:
                buf: list[str] = []
                self._inline_el(child, tag, buf)
                self._flush(buf, sub)
            elif tag not in _SKIP:
                self._blocks(child, sub)
            if sub:
                marker = f"{number}{delim}" if ordered else bullet
                items.append(self._indent_item(marker, sub))
            if ordered and (tag == "li" or sub):
                number += 1
            child = child.next
        if items:
            out.append("\n".join(items))

    @staticmethod
    def _indent_item(marker: str, blocks: list[str]) -> str:
        body = blocks[0]
        for block in blocks[1:]:
            body += ("\n" if _interrupts(block) else "\n\n") + block
        pad = " " * (len(marker) + 1)
        lines = body.split("\n")
        return "\n".join(
            [f"{marker} {lines[0]}"] + [pad + line if line else "" for line in lines[1:]]
        )

    def _pre(self, node: LexborNode, out: list[str]) -> None:
        parts: list[str] = []
        _raw_text(node, parts, "\n")
        text = "".join(parts).rstrip()
        while text.startswith("\n"):
            text = text[1:]
        if not text.strip():
            return
        text = _CONTROL_RE.sub("", text)
        fence = "```"
        while fence in text:
            fence += "`"
        out.append(f"{fence}{_language(node)}\n{text}\n{fence}")

    def _rows(
        self, node: LexborNode, rows: list[list[str]], caption: list[str], spans: dict[int, int]
    ) -> None:
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "tr":
                rows.append(self._row(child, spans))
            elif tag in ("thead", "tbody", "tfoot"):
                self._rows(child, rows, caption, spans)
            elif tag == "caption":
                buf: list[str] = []
                self._inline_children(child, buf)
                self._flush(buf, caption)
            child = child.next

    def _row(self, tr: LexborNode, spans: dict[int, int]) -> list[str]:
        """One row's cells; a cell spanning rows above leaves an empty cell here
        (``spans``: column → rows it is still covered for)."""
        row: list[str] = []
        cell = tr.first_child
        while cell is not None:
            if cell.tag in ("td", "th"):
                while spans.get(len(row), 0) > 0:
                    spans[len(row)] -= 1
                    row.append("")
                text = self._inline_text(cell, in_table=True).replace("\n", " ")
                attrs = cell.attributes
                colspan = _span(attrs.get("colspan"), 50)
                rowspan = _span(attrs.get("rowspan"), 1000)
                for k in range(colspan):
                    col = len(row)
                    if rowspan > 1:
                        spans[col] = rowspan - 1
                    elif spans.get(col, 0) > 0:
                        spans[col] -= 1  # overlapping cells (a table error): this one wins
                    row.append(text if k == 0 else "")
            cell = cell.next
        for col in sorted(spans):
            if col >= len(row) and spans[col] > 0:
                row.extend([""] * (col - len(row)))
                spans[col] -= 1
                row.append("")
        return row

    def _table(self, node: LexborNode, out: list[str]) -> None:
        rows: list[list[str]] = []
        caption: list[str] = []
        self._rows(node, rows, caption, {})
        out.extend(caption)
        rows = [r for r in rows if r]
        if not rows:
            return
        if len(rows) == 1 and len(rows[0]) <= 50:
            cells = node.css("td, th")
            if len(cells) == 1:
                # a layout table with one cell: keep its content as blocks
                self._blocks(cells[0], out)
                return
        width = max(len(r) for r in rows)
        lines = []
        for i, row in enumerate(rows):
            row = row + [""] * (width - len(row))
            lines.append("| " + " | ".join(row) + " |")
            if i == 0:
                lines.append("|" + " --- |" * width)
        out.append("\n".join(lines))

    # ------------------------------------------------------------------ inline

    def _inline_text(self, node: LexborNode, in_table: bool = False) -> str:
        buf: list[str] = []
        self._inline_children(node, buf)
        text = _finish(_collapse("".join(buf)), in_table)
        if _BREAK in text:
            text = " ".join(_split_lines(text))
        return text

    def _inline_children(self, node: LexborNode, buf: list[str]) -> None:
        child = node.first_child
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                text = child.text_content
                if text:
                    buf.append(_ESC_RE.sub(_escape_match, text))
            elif tag not in _SKIP:
                self._inline_el(child, tag, buf)
            child = child.next

    def _wrap(self, node: LexborNode, buf: list[str], open_: str, close: str) -> None:
        sub: list[str] = []
        self._emphasis += 1
        try:
            self._inline_children(node, sub)
        finally:
            self._emphasis -= 1
        raw = "".join(sub)
        inner = _collapse(raw)
        core = inner.strip(" " + _BREAK)
        if not core:
            if raw:
                buf.append(inner if _BREAK in inner else " ")
            return
        lead = inner[: len(inner) - len(inner.lstrip(" " + _BREAK))]
        trail = inner[len(inner.rstrip(" " + _BREAK)) :]
        if raw[0].isspace():
            lead = " " + lead
        if raw[-1].isspace():
            trail += " "
        if self._emphasis:
            buf.append(f"{lead}{core}{trail}")
        else:
            buf.append(f"{lead}{open_}{core}{close}{trail}")

    def _inline_el(self, node: LexborNode, tag: str, buf: list[str]) -> None:
        if tag == "a":
            self._link(node, buf)
        elif tag == "strong" or tag == "b":
            self._wrap(node, buf, _STRONG, _STRONG_END)
        elif tag == "em" or tag == "i" or tag == "cite" or tag == "dfn":
            self._wrap(node, buf, _EM, _EM_END)
        elif tag == "code" or tag == "kbd" or tag == "samp" or tag == "tt":
            self._code(node, buf)
        elif tag == "br":
            buf.append(_BREAK)
        elif tag == "img":
            self._image(node, buf)
        elif tag == "del" or tag == "s" or tag == "strike":
            self._wrap(node, buf, _DEL, _DEL_END)
        elif tag == "pre" or tag == "listing" or tag == "xmp" or tag == "plaintext":
            parts: list[str] = []
            _raw_text(node, parts, " ")
            text = _CONTROL_RE.sub("", _collapse("".join(parts)))
            if text:
                buf.append(f" {_CODE}{text}{_CODE_END} ")
        elif tag in _BLOCK:
            buf.append(" ")
            self._inline_children(node, buf)
            buf.append(" ")
        elif tag not in _SKIP:
            self._inline_children(node, buf)

    def _code(self, node: LexborNode, buf: list[str]) -> None:
        """Inline code; links inside it stay links (around their own code span)."""
        child = node.first_child
        if child is not None and child.next is None and child.tag == "-text":
            self._code_run([child.text_content or ""], buf)  # the common case: only text
            return
        parts: list[str] = []
        while child is not None:
            tag = child.tag or ""
            if tag == "-text":
                parts.append(child.text_content or "")
            elif tag == "br":
                parts.append(" ")
            elif tag == "a" or tag == "img":
                self._code_run(parts, buf)
                parts = []
                if tag == "a":
                    self._link(node=child, buf=buf, code=True)
                else:
                    self._image(child, buf)
            elif tag not in _SKIP:
                if tag in _BLOCK:
                    parts.append(" ")
                if child.css_first("a, img") is not None:
                    self._code_run(parts, buf)
                    parts = []
                    self._code(child, buf)
                else:
                    _raw_text(child, parts, " ")
                if tag in _BLOCK:
                    parts.append(" ")
            child = child.next
        self._code_run(parts, buf)

    @staticmethod
    def _code_run(parts: list[str], buf: list[str]) -> None:
        raw = "".join(parts)
        text = _CONTROL_RE.sub("", _collapse(raw))
        if not text:
            if raw:
                buf.append(" ")
            return
        lead = " " if raw[:1].isspace() else ""
        trail = " " if raw[-1:].isspace() else ""
        buf.append(f"{lead}{_CODE}{text}{_CODE_END}{trail}")

    def _href(self, href: str) -> str | None:
        if href in self.resolved:
            return self.resolved[href]
        url = self.resolved[href] = resolve(self.base, href, self.options)
        return url

    def _link(self, node: LexborNode, buf: list[str], code: bool = False) -> None:
        sub: list[str] = []
        if code:
            self._code(node, sub)
        else:
            self._inline_children(node, sub)
        raw = "".join(sub).replace(_BREAK, " ")
        text = _collapse(raw)
        href = node.attributes.get("href")
        url = self._href(href) if href is not None else None
        if not text:
            if raw:
                buf.append(" ")
            return
        lead = " " if raw[:1].isspace() else ""
        trail = " " if raw[-1:].isspace() else ""
        if url is None or url == self.page_url:
            buf.append(f"{lead}{text}{trail}")
        else:
            buf.append(f"{lead}[{text}]({_destination(url)}){trail}")

    def _image(self, node: LexborNode, buf: list[str]) -> None:
        attrs = node.attributes
        alt = _collapse(attrs.get("alt") or "")
        if not alt:
            return
        src = attrs.get("src") or ""
        url = self._href(src) if src and not src.startswith("data:") else None
        alt = _escape(alt)
        if url:
            buf.append(f"![{alt}]({_destination(url)})")
        else:
            buf.append(alt)


def _span(value: str | None, limit: int) -> int:
    if value is None:
        return 1
    value = value.strip()
    if not value.isdigit():
        return 1
    return min(max(int(value), 1), limit)
