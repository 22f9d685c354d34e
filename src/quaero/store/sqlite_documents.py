"""Documents on SQLite: upsert by URL, per-crawl counts, FTS5 search (bm25, titles x10)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from typing import Any

from ..documents.models import Document, NewDocument, SearchHit, SearchPage
from ..errors import InvalidJobSpec, JobNotFound
from ..events.types import DOCUMENT_SAVED, NewEvent
from .base import Page
from .sqlite_base import SqliteBase, _dumps, _loads
from .sqlite_writer import TxContext

__all__ = ["SqliteDocuments", "fts_query"]

DOC_COLUMNS = (
    "id, url, title, markdown, fetched_at, status_code, content_type, description, language,"
    " canonical_url, word_count, links_found, links_followed, job_ids, metadata, created_at,"
    " updated_at"
)

UPSERT = """
INSERT INTO documents (url, title, markdown, fetched_at, status_code, content_type, description,
                       language, canonical_url, word_count, links_found, links_followed, job_ids,
                       metadata, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (url) DO UPDATE SET
    title = excluded.title, markdown = excluded.markdown, fetched_at = excluded.fetched_at,
    status_code = excluded.status_code, content_type = excluded.content_type,
    description = excluded.description, language = excluded.language,
    canonical_url = excluded.canonical_url, word_count = excluded.word_count,
    links_found = excluded.links_found, links_followed = excluded.links_followed,
    metadata = excluded.metadata, updated_at = excluded.updated_at
RETURNING id, job_ids
"""

# bm25 weights per column: title, description, markdown (lower rank = better)
SEARCH = """
SELECT d.id, d.url, d.title,
       snippet(documents_fts, 2, char(2), char(3), '…', 16) AS snip,
       bm25(documents_fts, 10.0, 3.0, 1.0) AS rank
FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid
{join}
WHERE documents_fts MATCH ? {where}
ORDER BY rank, d.id LIMIT ? OFFSET ?
"""

SEARCH_COUNT = """
SELECT COUNT(*) FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid {join}
WHERE documents_fts MATCH ? {where}
"""

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """User text to a safe FTS5 query: every word must match (quoted, so no syntax errors)."""
    words = _WORD.findall(text)
    if not words:
        raise InvalidJobSpec(f"search query {text!r} has no words to search for")
    return " ".join(f'"{w}"' for w in words[:32])


def _row_to_doc(r: tuple[Any, ...]) -> Document:
    return Document(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
        r[12],
        _loads(r[13]),
        _loads(r[14]),
        r[15],
        r[16],
    )


class SqliteDocuments(SqliteBase):
    """Document operations of :class:`~quaero.store.sqlite.SqliteStore`."""

    async def save_document(
        self, doc: NewDocument, job_id: int, root_id: int
    ) -> tuple[Document, bool]:
        def op(ctx: TxContext) -> tuple[Document, bool]:
            conn = ctx.conn
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (root_id,)).fetchone() is None:
                raise JobNotFound(root_id)
            doc_id, job_ids_json = conn.execute(
                UPSERT,
                (
                    doc.url,
                    doc.title,
                    doc.markdown,
                    ctx.now,
                    doc.status_code,
                    doc.content_type,
                    doc.description,
                    doc.language,
                    doc.canonical_url,
                    doc.word_count,
                    doc.links_found,
                    doc.links_followed,
                    _dumps([root_id]),
                    _dumps(doc.metadata),
                    ctx.now,
                    ctx.now,
                ),
            ).fetchone()
            new = (
                conn.execute(
                    "INSERT OR IGNORE INTO document_jobs (document_id, job_id) VALUES (?, ?)",
                    (doc_id, root_id),
                ).rowcount
                == 1
            )
            if new:
                job_ids = _loads(job_ids_json)
                if root_id not in job_ids:
                    job_ids.append(root_id)
                    conn.execute(
                        "UPDATE documents SET job_ids = ? WHERE id = ?", (_dumps(job_ids), doc_id)
                    )
                conn.execute(
                    "UPDATE jobs SET result_count = result_count + 1 WHERE id = ?", (root_id,)
                )
            documents = conn.execute(
                "SELECT result_count FROM jobs WHERE id = ?", (root_id,)
            ).fetchone()[0]
            ctx.write_events(
                [
                    NewEvent(
                        DOCUMENT_SAVED,
                        job_id,
                        root_id,
                        {
                            "document_id": doc_id,
                            "url": doc.url,
                            "title": doc.title,
                            "job_id": job_id,
                            "parent_id": root_id,
                            "new": new,
                            "documents": documents,
                        },
                    )
                ],
                _dumps,
            )
            row = conn.execute(
                f"SELECT {DOC_COLUMNS} FROM documents WHERE id = ?", (doc_id,)
            ).fetchone()
            return _row_to_doc(row), new

        return await self._write(op)

    async def patch_document_metadata(self, url: str, values: Mapping[str, Any]) -> bool:
        items = sorted(values.items())

        def op(ctx: TxContext) -> bool:
            row = ctx.conn.execute(
                "SELECT metadata FROM documents WHERE url = ?", (url,)
            ).fetchone()
            if row is None:
                return False
            meta = _loads(row[0])
            meta.update(items)
            ctx.conn.execute("UPDATE documents SET metadata = ? WHERE url = ?", (_dumps(meta), url))
            return True

        return await self._write(op)

    async def get_document(
        self, document_id: int | None = None, url: str | None = None
    ) -> Document | None:
        def fn(c: sqlite3.Connection) -> Document | None:
            if document_id is not None:
                r = c.execute(
                    f"SELECT {DOC_COLUMNS} FROM documents WHERE id = ?", (document_id,)
                ).fetchone()
            else:
                r = c.execute(
                    f"SELECT {DOC_COLUMNS} FROM documents WHERE url = ?", (url,)
                ).fetchone()
            return _row_to_doc(r) if r else None

        return await self._read(fn)

    async def search_documents(
        self, query: str, limit: int = 10, offset: int = 0, job_id: int | None = None
    ) -> SearchPage:
        match = fts_query(query)
        join, where, params = "", "", []
        if job_id is not None:
            join = "JOIN document_jobs dj ON dj.document_id = d.id"
            where = "AND dj.job_id = ?"
            params = [job_id]

        def fn(c: sqlite3.Connection) -> SearchPage:
            rows = c.execute(
                SEARCH.format(join=join, where=where), (match, *params, limit, offset)
            ).fetchall()
            total = c.execute(
                SEARCH_COUNT.format(join=join, where=where), (match, *params)
            ).fetchone()[0]
            return SearchPage(
                [SearchHit(r[0], r[1], r[2], r[3], -float(r[4])) for r in rows], int(total)
            )

        return await self._read(fn)

    async def list_documents(
        self, limit: int = 50, offset: int = 0, job_id: int | None = None
    ) -> Page:
        def fn(c: sqlite3.Connection) -> Page:
            if job_id is None:
                total = c.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
                rows = c.execute(
                    f"SELECT {DOC_COLUMNS} FROM documents ORDER BY id DESC LIMIT ? OFFSET ?",
                    (limit, offset),
                ).fetchall()
            else:
                total = c.execute(
                    "SELECT COUNT(*) FROM document_jobs WHERE job_id = ?", (job_id,)
                ).fetchone()[0]
                rows = c.execute(
                    f"SELECT {', '.join('d.' + x.strip() for x in DOC_COLUMNS.split(','))} FROM documents d"
                    " JOIN document_jobs dj ON dj.document_id = d.id WHERE dj.job_id = ?"
                    " ORDER BY d.id DESC LIMIT ? OFFSET ?",
                    (job_id, limit, offset),
                ).fetchall()
            return Page([_row_to_doc(r) for r in rows], int(total))

        return await self._read(fn)
