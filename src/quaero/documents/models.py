"""The document records the crawler saves and search returns."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from ..jobs.models import iso
from .snippets import snippet_text

__all__ = ["MARK_END", "MARK_START", "Document", "NewDocument", "SearchHit", "SearchPage"]


@dataclass(slots=True)
class NewDocument:
    """A fetched page to upsert (by URL)."""

    url: str
    title: str
    markdown: str
    status_code: int = 200
    content_type: str = "text/html"
    description: str = ""
    language: str = ""
    canonical_url: str = ""
    word_count: int = 0
    links_found: int = 0
    links_followed: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # page text may hold NUL characters, which PostgreSQL cannot store
        for name in ("title", "markdown", "description", "language", "canonical_url"):
            value = getattr(self, name)
            if "\x00" in value:
                setattr(self, name, value.replace("\x00", "\ufffd"))


@dataclass(slots=True)
class Document:
    """A stored document. ``job_ids`` are the crawl jobs (roots) that saved it."""

    id: int
    url: str
    title: str
    markdown: str
    fetched_at: float
    status_code: int
    content_type: str
    description: str
    language: str
    canonical_url: str
    word_count: int
    links_found: int
    links_followed: int
    job_ids: list[int]
    metadata: dict[str, Any]
    created_at: float
    updated_at: float

    def to_dict(self, with_markdown: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "fetched_at": iso(self.fetched_at),
            "status_code": self.status_code,
            "content_type": self.content_type,
            "description": self.description,
            "language": self.language,
            "canonical_url": self.canonical_url,
            "word_count": self.word_count,
            "links_found": self.links_found,
            "links_followed": self.links_followed,
            "job_ids": self.job_ids,
            "metadata": self.metadata,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if with_markdown:
            d["markdown"] = self.markdown
        return d


#: the store marks matched words in snippets with these control characters
MARK_START, MARK_END = "\x02", "\x03"


@dataclass(slots=True)
class SearchHit:
    """A search result; ``snippet`` marks matches with MARK_START/MARK_END."""

    id: int
    url: str
    title: str
    snippet: str
    score: float

    def __post_init__(self) -> None:
        # the store cuts it from the markdown: keep the words, not the syntax
        self.snippet = snippet_text(self.snippet)

    @property
    def snippet_text(self) -> str:
        return " ".join(self.snippet.replace(MARK_START, "").replace(MARK_END, "").split())

    @property
    def snippet_html(self) -> str:
        escaped = html.escape(" ".join(self.snippet.split()))
        return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "snippet": self.snippet_text,
            "snippet_html": self.snippet_html,
            "score": round(self.score, 4),
        }


@dataclass(slots=True)
class SearchPage:
    items: list[SearchHit]
    total: int
