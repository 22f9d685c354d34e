"""Search snippets read as text, not markdown (both backends cut them from the markdown)."""

from __future__ import annotations

import pytest

from quaero.documents.models import MARK_END, MARK_START, SearchHit
from quaero.documents.snippets import snippet_text

S, E = MARK_START, MARK_END


@pytest.mark.parametrize(
    ("snippet", "text"),
    [
        # what a fresh user saw for a crawled page
        (
            f"# Page 1\n\nThis page talks about {S}quokkas{E} and wombats.\n\n- [next page 2](http://h/p2.html)\n- [deep…",
            f"Page 1\n\nThis page talks about {S}quokkas{E} and wombats.\n\nnext page 2\ndeep…",
        ),
        (r"numbers for \[bold\]Q3\[/bold\].", "numbers for [bold]Q3[/bold]."),
        (
            f"…see [the {S}vacuum{E} guide](https://x/v.html) and **more**",
            f"…see the {S}vacuum{E} guide and more",
        ),
        ("guide](https://x/v.html) and `VACUUM FULL`", "guide and VACUUM FULL"),
        (
            "![diagram](/img/a.png) <https://example.com/a> > quoted",
            "diagram https://example.com/a > quoted",
        ),
        ("> a quote\n## Heading two", "a quote\nHeading two"),
        ("a [link](http://cut.example/pa…", "a link"),
        ("1 * 2 - 3 # not markers mid-line", "1 * 2 - 3 # not markers mid-line"),
        (r"C:\\path and a \* star", r"C:\path and a * star"),
    ],
)
def test_markdown_syntax_is_dropped_words_and_marks_stay(snippet: str, text: str) -> None:
    assert snippet_text(snippet) == text


def test_search_hits_carry_the_text() -> None:
    hit = SearchHit(1, "http://h/", "T", f"# {S}Wombat{E} burrow\n- [p2](http://h/p2)", 1.0)
    assert hit.to_dict()["snippet"] == "Wombat burrow p2"
    assert hit.to_dict()["snippet_html"] == "<mark>Wombat</mark> burrow p2"
