"""Differential test of HTML → markdown: a CommonMark parser (markdown-it-py) must read our
markdown back as the page's visible text, links, code blocks and table grid.

Over every page of the PostgreSQL manual (``QUAERO_PG_DOCS``), over generated pages
(hypothesis) and over each input that failed once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.markdown_diff import PARSER, compare

URL = "https://example.com/docs/page.html"


def check(body: str) -> str:
    markdown, mismatches = compare(f"<html><body>{body}</body></html>", URL)
    assert not mismatches, f"{[str(m) for m in mismatches]}\n--- markdown:\n{markdown}"
    return markdown


def test_pre_keeps_br_lines() -> None:
    out = check("<pre>line1<br>line2<br><br>line4</pre>")
    assert out == "```\nline1\nline2\n\nline4\n```"


@pytest.mark.parametrize(
    ("html", "url", "text"),
    [
        ('<a href="/smile;-)/page.html">x</a>', "https://example.com/smile;-)/page.html", "x"),
        ('<a href="/wiki/(">y</a>', "https://example.com/wiki/(", "y"),
        ('<a href="/p.html">Hi :]</a>', "https://example.com/p.html", "Hi :]"),
        ('<a href="/a_(b)_c?x=&amp;copy;">[z]</a>', "https://example.com/a_(b)_c?x=&copy;", "[z]"),
    ],
)
def test_links_read_back(html: str, url: str, text: str) -> None:
    check(f"<p>{html}</p>")
    tokens = PARSER.parseInline(extract_md(f"<p>{html}</p>"))[0].children or []
    links = [t for t in tokens if t.type == "link_open"]
    assert [t.attrs["href"] for t in links] == [PARSER.normalizeLink(url)]


def extract_md(body: str) -> str:
    markdown, _ = compare(f"<html><body>{body}</body></html>", URL)
    return markdown


def test_rowspan_and_colspan() -> None:
    out = check(
        "<table><tr><th>Region</th><th>Product</th><th>Units</th></tr>"
        "<tr><td rowspan=2>EU</td><td>Cable</td><td>12</td></tr><tr><td>Hub</td><td>7</td></tr>"
        "<tr><td colspan=2>Total</td><td>19</td></tr></table>"
    )
    assert out.split("\n")[2:] == ["| EU | Cable | 12 |", "|  | Hub | 7 |", "| Total |  | 19 |"]


def test_lists_next_to_lists_stay_apart() -> None:
    out = check("<ul><li>a</li></ul><ul><li>b</li></ul><ol><li>c</li></ol><ol><li>d</li></ol>")
    assert out == "- a\n\n* b\n\n1. c\n\n1) d"
    tokens = PARSER.parse(out)
    assert sum(t.type in ("bullet_list_open", "ordered_list_open") for t in tokens) == 4


def test_code_spans_with_backticks_and_emphasis_next_to_words() -> None:
    check("<p><code>a`b</code> <code>`x</code><code>y``</code> and<code>z</code>w</p>")
    out = check('<p>foo<em>bar</em>baz, a<em>"b"</em>c, <strong>x </strong>y, <em>(p)</em></p>')
    assert "foo*bar*baz" in out and "*(p)*" in out


def test_brackets_in_alt_text_and_markdown_characters_in_text() -> None:
    check('<p><img alt="a [b] c" src="/i.png"> <a href="/x"><img alt="]" src="/j.png"></a></p>')
    check(
        "<p>*not em* _nor_ this, 2 * 3, <b>x</b>, [a](b), &lt;b&gt;, &amp;copy;, `tick`, "
        "back\\slash, a|b, ~~no~~</p><p># not a heading</p><p>1. not a list</p>"
        "<p>- nor this</p><p>+ this</p><p>&gt; quote</p><p>---</p><p>===</p>"
    )


def test_definition_lists_and_nested_blocks() -> None:
    check(
        "<dl><dt><code>work_mem</code> (integer)</dt><dd><p>Sets memory.</p><ul><li>x</li></ul>"
        "</dd></dl><blockquote><ul><li><pre>a\n\nb</pre></li></ul></blockquote>"
    )


PG_DOCS = Path(os.environ.get("QUAERO_PG_DOCS", "/usr/share/doc/postgresql-doc-15/html"))


@pytest.mark.skipif(not PG_DOCS.is_dir(), reason="postgresql-doc-15 not installed")
def test_every_postgres_docs_page_reads_back() -> None:
    pages = sorted(PG_DOCS.glob("*.html"))
    assert len(pages) > 1000
    bad = []
    for path in pages:
        html = path.read_bytes().decode("utf-8", "replace")
        _, mismatches = compare(html, f"https://www.postgresql.org/docs/15/{path.name}")
        bad.extend(f"{path.name}: {m}" for m in mismatches)
    assert bad == [], f"{len(bad)} mismatches, first: {bad[:5]}"


# ------------------------------------------------------------------ generated pages

_TEXT = st.lists(
    st.sampled_from(
        [
            *"ab c_*[]()#`\\|~!-+=.:;1 \n\t",
            "é",
            "\xa0",
            "&lt;",
            "&gt;",
            "&amp;",
            "&amp;copy;",
            "&lt;b&gt;",
            "&lt;http://x.org&gt;",
            "word",
            "1. ",
            "- ",
            "# ",
            "> ",
        ]
    ),
    max_size=10,
).map("".join)
_HREFS = st.sampled_from(
    [
        "/p.html",
        "/smile;-)/page.html",
        "/wiki/(",
        "/a b",
        "other.html#x",
        "#top",
        "page.html",
        "mailto:a@b.c",
        "/q?a=1&amp;b=2",
        "/x_(y)",
        "/w?c=&amp;copy;",
        "http://x.org/<>",
    ]
)


def _el(tag: str, children: list[str], attrs: str = "") -> str:
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>"


_inline = st.recursive(
    _TEXT,
    lambda kids: st.one_of(
        st.builds(
            lambda t, c: _el(t, c),
            st.sampled_from(["em", "strong", "b", "i", "del", "span", "code", "x-tag", "sub"]),
            st.lists(kids, max_size=3),
        ),
        st.builds(lambda h, c: _el("a", c, f' href="{h}"'), _HREFS, st.lists(kids, max_size=3)),
        st.just("<br>"),
        st.builds(
            lambda a: f'<img alt="{a}" src="/i.png">', _TEXT.map(lambda s: s.replace('"', ""))
        ),
    ),
    max_leaves=8,
)
_inlines = st.lists(_inline, max_size=4).map("".join)


def _table(rows: list[list[tuple[str, int, int]]]) -> str:
    out = []
    for row in rows:
        cells = "".join(
            f"<td{f' rowspan={r}' if r > 1 else ''}{f' colspan={c}' if c > 1 else ''}>{t}</td>"
            for t, r, c in row
        )
        out.append(f"<tr>{cells}</tr>")
    return f"<table>{''.join(out)}</table>"


_cell = st.tuples(_inlines, st.integers(1, 3), st.integers(1, 3))
_blocks = st.recursive(
    st.one_of(
        _inlines.map(lambda s: f"<p>{s}</p>"),
        _inlines.map(lambda s: f"<h2>{s}</h2>"),
        _TEXT.map(lambda s: f"<pre>{s}</pre>"),
        st.lists(_TEXT, max_size=3).map(lambda parts: "<pre>" + "<br>".join(parts) + "</pre>"),
        st.lists(st.lists(_cell, min_size=1, max_size=3), min_size=1, max_size=4).map(_table),
        _inlines,
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3).map(lambda c: _el("div", c)),
        st.lists(kids, max_size=3).map(lambda c: _el("blockquote", c)),
        st.tuples(
            st.sampled_from(["ul", "ol"]),
            st.lists(
                st.lists(kids, max_size=2).map(lambda c: _el("li", c)), min_size=1, max_size=3
            ),
        ).map(lambda p: _el(p[0], p[1])),
        st.lists(kids, min_size=1, max_size=2).map(
            lambda c: "<dl><dt>" + c[0] + "</dt><dd>" + "".join(c[1:]) + "</dd></dl>"
        ),
    ),
    max_leaves=6,
)


@pytest.mark.timeout(900)
@settings(
    max_examples=int(os.environ.get("QUAERO_HYPOTHESIS_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(_blocks, min_size=1, max_size=4).map("".join))
def test_generated_pages_read_back(body: str) -> None:
    check(body)
