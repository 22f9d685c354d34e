"""HTML → markdown, metadata and link extraction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quaero.crawler.extract import Link, extract
from quaero.crawler.urls import NormalizeOptions

URL = "https://example.com/docs/page.html"


def md(body: str, head: str = "") -> str:
    return extract(f"<html><head>{head}</head><body>{body}</body></html>", URL).markdown


def test_headings_and_paragraphs() -> None:
    out = md(
        "<h1>Title</h1><p>First   para\n with  space.</p><h2>Sub <em>x</em></h2><p>Second</p><h6>six</h6>"
    )
    assert out == "# Title\n\nFirst para with space.\n\n## Sub *x*\n\nSecond\n\n###### six"


def test_inline_formatting() -> None:
    out = md(
        "<p>a <b>bold</b>, <strong> strong </strong>, <i>it</i> <em>em</em> "
        "<code>x_y()</code> <kbd>Ctrl</kbd> <del>old</del> <code>a`b</code><br>next</p>"
    )
    assert out == "a **bold**, **strong** , *it* *em* `x_y()` `Ctrl` ~~old~~ `` a`b ``\\\nnext"


def test_links_are_absolute() -> None:
    out = md(
        '<p>See <a href="../other.html#s">other</a>, <a href="https://x.org/">x</a>, '
        '<a href="mailto:a@b.c">mail</a>, <a href="#top">top</a>, <a href="javascript:void(0)">js</a>.</p>'
    )
    assert out == "See [other](https://example.com/other.html), [x](https://x.org/), mail, top, js."


def test_images() -> None:
    out = md(
        '<p><img src="/i.png" alt="A chart"> <img src="deco.png"> '
        '<img src="data:image/png;base64,xx" alt="inline"></p>'
    )
    assert out == "![A chart](https://example.com/i.png) inline"


def test_lists_nested_and_ordered() -> None:
    out = md(
        "<ul><li>one</li><li>two<ul><li>two.a</li><li>two.b<ol><li>deep</li></ol></li></ul></li>"
        "<li><p>p1</p><p>p2</p></li></ul><ol start='4'><li>four</li><li>five</li></ol>"
    )
    assert out == (
        "- one\n- two\n  - two.a\n  - two.b\n    1. deep\n- p1\n\n  p2\n\n4. four\n5. five"
    )


def test_code_blocks() -> None:
    out = md(
        '<pre class="programlisting">SELECT 1;\n  -- indented\n</pre>'
        '<pre><code class="language-python">def f():\n    return "```"\n</code></pre>'
        '<div class="highlight highlight-source-rust"><pre>fn main() {}</pre></div>'
    )
    assert out == (
        "```\nSELECT 1;\n  -- indented\n```\n\n"
        '````python\ndef f():\n    return "```"\n````\n\n'
        "```rust\nfn main() {}\n```"
    )


def test_tables() -> None:
    out = md(
        "<table><caption>Caps</caption><thead><tr><th>Name</th><th>Value</th></tr></thead>"
        "<tbody><tr><td><code>a|b</code></td><td>1</td></tr><tr><td colspan='2'>wide</td></tr>"
        "<tr><td>short</td></tr></tbody></table>"
    )
    assert out == (
        "Caps\n\n| Name | Value |\n| --- | --- |\n| `a\\|b` | 1 |\n| wide |  |\n| short |  |"
    )
    # a one-cell layout table keeps its blocks
    assert md("<table><tr><td><h2>In</h2><p>side</p></td></tr></table>") == "## In\n\nside"


def test_blockquote_and_dl_and_hr() -> None:
    out = md(
        "<blockquote><p>q1</p><p>q2</p></blockquote><hr>"
        "<dl><dt><code>work_mem</code> (integer)</dt><dd><p>Sets memory.</p><p>More.</p></dd>"
        "<dt>b</dt><dd>plain</dd></dl>"
    )
    assert out == (
        "> q1\n>\n> q2\n\n---\n\n`work_mem` (integer)\n\nSets memory.\n\nMore.\n\nb\n\nplain"
    )


def test_boilerplate_dropped() -> None:
    body = (
        "<header><h1>Site name</h1></header><nav><a href='/a'>Nav link</a></nav>"
        "<div class='navheader'><a href='prev.html'>Prev</a></div>"
        "<div><p>Content here.</p><script>var x = 'script text';</script><style>p{}</style>"
        "<noscript>enable js</noscript><form><input name=q><button>Go</button></form>"
        "<aside>aside text</aside><svg><text>svg text</text></svg>"
        "<p hidden>hidden p</p><p style='display: none'>none p</p><span aria-hidden='true'>icon</span>"
        "<div role='navigation'>role nav</div></div>"
        "<div class='navfooter'><a href='next.html'>Next</a></div><footer>Footer</footer>"
    )
    page = extract(f"<html><body>{body}</body></html>", URL)
    assert page.markdown == "Content here."
    assert page.word_count == 2
    # navigation links are still reported (that is how a crawler discovers pages)
    assert [link.url for link in page.links] == [
        "https://example.com/a",
        "https://example.com/docs/prev.html",
        "https://example.com/docs/next.html",
    ]


def test_main_content_selection() -> None:
    text = "word " * 50
    body = f"<div id='menu'><p>menu menu</p></div><main><h1>Main</h1><p>{text}</p></main><div>after</div>"
    assert md(body).startswith("# Main")
    assert "after" not in md(body)
    art = f"<div>intro</div><article><header><h1>Post</h1></header><p>{text}</p><footer>tags</footer></article>"
    out = md(art)
    assert out.startswith("# Post") and "intro" not in out and "tags" not in out
    # a tiny <main> is not trusted
    tiny = f"<main><p>x</p></main><div><p>{text}</p></div>"
    assert md(tiny).startswith("x")
    # several articles (a listing): keep the whole body
    listing = "<article><p>one</p></article><article><p>two</p></article>"
    assert md(listing) == "one\n\ntwo"


def test_asp_net_form_is_unwrapped() -> None:
    text = "content " * 40
    assert md(f"<form id='aspnetForm'><div><p>{text.strip()}</p></div></form>") == text.strip()


def test_metadata() -> None:
    html = """<!doctype html><html lang="de-DE"><head>
      <title>  Der   Titel </title>
      <meta name="Description" content=" Eine   Beschreibung ">
      <meta property="og:description" content="og">
      <link rel="alternate stylesheet" href="/x.css"><link rel="Canonical" href="/canon/page?utm_source=x">
      <meta name="robots" content="NOINDEX, follow">
    </head><body><h1>Heading</h1><p>one two three</p></body></html>"""
    page = extract(html, URL, url_options=NormalizeOptions(drop_params=("utm_*",)))
    assert page.title == "Der Titel"
    assert page.description == "Eine Beschreibung"
    assert page.language == "de-DE"
    assert page.canonical_url == "https://example.com/canon/page"
    assert page.noindex and not page.nofollow
    assert page.word_count == 4
    assert page.url == URL


def test_title_fallbacks() -> None:
    assert extract("<h1>Only <b>h1</b></h1><p>x</p>", URL).title == "Only h1"
    assert extract("<p>nothing</p>", URL).title == ""
    assert (
        extract(
            "<html><head><meta property='og:description' content='d'></head></html>", URL
        ).description
        == "d"
    )


def test_links_base_nofollow_dedupe() -> None:
    html = """<html><head><base href="https://cdn.example.org/base/"></head><body>
      <a href="a.html">A</a> <a href="a.html#x" rel="nofollow">A again</a>
      <a href="b.html" rel="nofollow ugc">B</a> <a href="b.html" rel="nofollow">B2</a>
      <a href="https://example.com/docs/page.html#self">self</a>
      <a href="mailto:x@y.z">mail</a> <a href="javascript:void(0)">js</a> <a href="http://[::1">bad</a>
      <a href="">empty</a> <a>no href</a> <a href="c.html?utm_source=t&amp;x=1"><img src="i.png" alt="Pic"></a>
      <map><area href="/area.html" alt="Area"></map>
    </body></html>"""
    page = extract(html, URL, url_options=NormalizeOptions(drop_params=("utm_*",)))
    assert page.base_url == "https://cdn.example.org/base/"
    assert page.links == [
        Link("https://cdn.example.org/base/a.html", "A", False),
        Link("https://cdn.example.org/base/b.html", "B", True),
        Link("https://cdn.example.org/base/", "empty", False),  # "" is the base URL itself
        Link("https://cdn.example.org/base/c.html?x=1", "Pic", False),
        Link("https://cdn.example.org/area.html", "Area", False),
    ]


def test_meta_robots_none() -> None:
    page = extract("<head><meta name='robots' content='none'></head>", URL)
    assert page.noindex and page.nofollow


def test_empty_and_garbage() -> None:
    for html in ("", "   ", "<html>", "<<<>>>", "\x00\x01", "<p>unclosed <b>bold"):
        page = extract(html, URL)
        assert isinstance(page.markdown, str)
    assert extract("<p>unclosed <b>bold", URL).markdown == "unclosed **bold**"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<ul>",
                "<li>",
                "</ul>",
                "<ol start=x>",
                "<table>",
                "<tr>",
                "<td colspan=99999>",
                "<pre>",
                "</pre>",
                "<a href='x'>",
                "</a>",
                "<b>",
                "text",
                " ",
                "\n",
                "<br>",
                "<h2>",
                "<dl>",
                "<dd>",
                "<dt>",
                "<blockquote>",
                "<code>",
                "`",
                "|",
                "<img alt='a' src='http://[::1'>",
                "<base href='::'>",
                "<main>",
                "<article>",
                "<form>",
                "<div hidden>",
                "&amp;",
                "&#0;",
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_extract_never_raises(html: str) -> None:
    page = extract(html, URL)
    assert page.word_count >= 0


POSTGRES_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


@pytest.mark.skipif(not POSTGRES_DOCS.is_dir(), reason="postgresql-doc-15 not installed")
def test_postgres_docs_page() -> None:
    html = (POSTGRES_DOCS / "datatype-numeric.html").read_text(encoding="utf-8")
    page = extract(html, "https://www.postgresql.org/docs/15/datatype-numeric.html")
    assert page.title == "8.1. Numeric Types"
    assert page.markdown.startswith("## 8.1. Numeric Types")
    assert "| Name | Storage Size | Description | Range |" in page.markdown
    assert "```\nNUMERIC(precision, scale)\n```" in page.markdown
    assert "Prev" not in page.markdown.split("\n")[0]
    assert "Up" not in page.markdown and "Home" not in page.markdown.split("\n\n")[-1]
    assert any(link.text == "Next" for link in page.links)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0; URL=/home/", (0.0, "/home/")),
        ("0;url='/a b'", (0.0, "/a b")),
        ('  3 , URL = "x.html" ', (3.0, "x.html")),
        ("0; /direct", (0.0, "/direct")),
        ("5", None),
        ("", None),
    ],
)
def test_meta_refresh_content(content: str, expected: tuple[float, str] | None) -> None:
    from quaero.crawler.extract import parse_refresh

    assert parse_refresh(content) == expected


def test_meta_refresh_any_case_and_link_header_canonical() -> None:
    from quaero.crawler.extract import canonical_from_link_header

    page = extract('<META HTTP-EQUIV=REFRESH CONTENT="0; URL=/home/">', URL)
    assert page.refresh == (0.0, "https://example.com/home/") and page.word_count == 0
    assert canonical_from_link_header('</p/1/>; rel="canonical"', URL) == "https://example.com/p/1/"
    assert canonical_from_link_header("</a.css>; rel=preload, </b/>; rel=canonical", URL) == (
        "https://example.com/b/"
    )
    assert canonical_from_link_header("</a.css>; rel=preload", URL) is None
