"""Search snippets as reading text: documents are stored (and indexed) as markdown, so a
snippet cut from one carried its syntax (``# Title``, ``- [next page](http://…)``,
``\\[escaped\\]``). :func:`snippet_text` keeps the words and drops the syntax, on both
backends (the stores cut the snippet; :class:`~quaero.documents.models.SearchHit` cleans it).
"""

from __future__ import annotations

import re

__all__ = ["snippet_text"]

# a link or image, possibly cut by the snippet's end: [text](url) -> text
_LINK = re.compile(r"!?(?<!\\)\[([^\]\n]*)\]\([^)\s]*\)?")
# a link's tail when the snippet starts inside it: "text](url)" -> "text"
_LINK_TAIL = re.compile(r"(?<!\\)\]\([^)\s]*\)?")
# a link's head when the snippet ends inside its text: "[next page…" -> "next page…"
_LINK_HEAD = re.compile(r"!?(?<!\\)\[(?=[^\]\n]*$)")
# <https://…> autolinks
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]*)>")
# block markers at the start of a line: headings, bullets, quotes
_LINE_START = re.compile(r"^([ \t]*)(?:#{1,6}[ \t]+|[-*+][ \t]+|>[ \t]?)", re.MULTILINE)
# strong emphasis and code spans / fences
_MARKUP = re.compile(r"\*\*|__|`+")
# CommonMark backslash escapes of ASCII punctuation
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def snippet_text(snippet: str) -> str:
    """``snippet`` (a cut of a document's markdown, match marks included) without its
    markdown syntax: link text without the URL, no heading or list markers, no
    emphasis or code markers, escapes resolved. The words and the marks stay."""
    s = _LINK.sub(r"\1", snippet)
    s = _LINK_TAIL.sub("", s)
    s = _LINK_HEAD.sub("", s)
    s = _AUTOLINK.sub(r"\1", s)
    s = _LINE_START.sub(r"\1", s)
    s = _MARKUP.sub("", s)
    return _ESCAPE.sub(r"\1", s)
