"""Documents on PostgreSQL: upsert by URL, per-crawl counts, text search (tsvector + GIN).

Same API and ranking intent as the SQLite (FTS5) side: every word of the query must
match (``plainto_tsquery``), titles weigh 10, descriptions 3 and bodies 1 (``ts_rank``
weights on the A/B/D labels of the stored tsvector), English stemming, and the snippet is
cut from the body with the same markers (``\\x02`` … ``\\x03``) around matched words.
PostgreSQL drops English stop words from queries: a query of stop words only finds
nothing (FTS5 would match them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..documents.models import Document, NewDocument, SearchHit, SearchPage
from ..errors import JobNotFound
from ..events.types import DOCUMENT_SAVED, NewEvent
from .base import Page
from .postgres_base import PgBase
from .postgres_tx import PgTx, dumps, loads
from .sqlite_documents import fts_query

__all__ = ["PgDocuments"]

DOC_COLUMNS = (
    "d.id, d.url, d.title, d.markdown, d.fetched_at, d.status_code, d.content_type,"
    " d.description, d.language, d.canonical_url, d.word_count, d.links_found,"
    " d.links_followed, d.job_ids::text, d.metadata::text, d.created_at, d.updated_at"
)

UPSERT = """
INSERT INTO documents AS d (url, title, markdown, fetched_at, status_code, content_type,
                            description, language, canonical_url, word_count, links_found,
                            links_followed, job_ids, metadata, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $4, $4)
ON CONFLICT (url) DO UPDATE SET
    title = excluded.title, markdown = excluded.markdown, fetched_at = excluded.fetched_at,
    status_code = excluded.status_code, content_type = excluded.content_type,
    description = excluded.description, language = excluded.language,
    canonical_url = excluded.canonical_url, word_count = excluded.word_count,
    links_found = excluded.links_found, links_followed = excluded.links_followed,
    metadata = excluded.metadata, updated_at = excluded.updated_at
RETURNING id
"""

# the crawl's first save of this URL: link it, list the crawl on the document, count it
LINK = """
WITH l AS (
    INSERT INTO document_jobs (document_id, job_id) VALUES ($1, $2)
    ON CONFLICT DO NOTHING RETURNING document_id
), d AS (
    UPDATE documents SET job_ids = job_ids || to_jsonb($2::bigint)
    WHERE id = ANY(ARRAY(SELECT document_id FROM l)) AND NOT job_ids @> to_jsonb($2::bigint)
), j AS (
    UPDATE jobs SET result_count = result_count + 1 WHERE id = $2 AND EXISTS (SELECT 1 FROM l)
)
SELECT EXISTS (SELECT 1 FROM l)
"""

# ranks on the index, then cuts snippets for the page of hits only (ts_headline re-parses)
SEARCH = """
WITH q AS (SELECT plainto_tsquery('english', $1) AS q),
hits AS (
    SELECT d.id, ts_rank('{{0.1, 0.0, 0.3, 1.0}}', d.search, q.q) AS rank
    FROM q, documents d {join}
    WHERE d.search @@ q.q {where}
    ORDER BY rank DESC, d.id LIMIT $2 OFFSET $3
)
SELECT d.id, d.url, d.title,
       ts_headline('english', left(d.markdown, 400000), q.q,
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3)
                   || ', MaxWords=16, MinWords=6, MaxFragments=1, FragmentDelimiter=…'),
       hits.rank
FROM hits JOIN documents d USING (id), q
ORDER BY hits.rank DESC, d.id
"""

SEARCH_COUNT = """
SELECT COUNT(*) FROM documents d {join}
WHERE d.search @@ plainto_tsquery('english', $1) {where}
"""


def _row_to_doc(r: Any) -> Document:
    return Document(
        id=r[0],
        url=r[1],
        title=r[2],
        markdown=r[3],
        fetched_at=r[4],
        status_code=r[5],
        content_type=r[6],
        description=r[7],
        language=r[8],
        canonical_url=r[9],
        word_count=r[10],
        links_found=r[11],
        links_followed=r[12],
        job_ids=loads(r[13]),
        metadata=loads(r[14]),
        created_at=r[15],
        updated_at=r[16],
    )


class PgDocuments(PgBase):
    """Document operations of :class:`~quaero.store.postgres.PostgresStore`."""

    async def save_document(
        self, doc: NewDocument, job_id: int, root_id: int
    ) -> tuple[Document, bool]:
        async def op(tx: PgTx) -> tuple[Document, bool]:
            conn = tx.conn
            if await conn.fetchval("SELECT 1 FROM jobs WHERE id = $1", root_id) is None:
                raise JobNotFound(root_id)
            doc_id = await conn.fetchval(
                UPSERT,
                doc.url,
                doc.title,
                doc.markdown,
                tx.now,
                doc.status_code,
                doc.content_type,
                doc.description,
                doc.language,
                doc.canonical_url,
                doc.word_count,
                doc.links_found,
                doc.links_followed,
                dumps([root_id]),
                dumps(doc.metadata),
            )
            new = bool(await conn.fetchval(LINK, doc_id, root_id))
            # the crawl's count after this save (its row is locked by the update until commit)
            documents = await conn.fetchval("SELECT result_count FROM jobs WHERE id = $1", root_id)
            row = await conn.fetchrow(
                f"SELECT {DOC_COLUMNS} FROM documents d WHERE id = $1", doc_id
            )
            payload = {
                "document_id": doc_id,
                "url": doc.url,
                "title": doc.title,
                "job_id": job_id,
                "parent_id": root_id,
                "new": new,
                "documents": documents,
            }
            await tx.write_events([NewEvent(DOCUMENT_SAVED, job_id, root_id, payload)])
            return _row_to_doc(row), new

        return await self._run(op)

    async def patch_document_metadata(self, url: str, values: Mapping[str, Any]) -> bool:
        status = await self.pool.execute(
            "UPDATE documents SET metadata = metadata || $2::jsonb WHERE url = $1",
            url,
            dumps(dict(values)),
        )
        return not status.endswith(" 0")

    async def get_document(
        self, document_id: int | None = None, url: str | None = None
    ) -> Document | None:
        if document_id is not None:
            r = await self.pool.fetchrow(
                f"SELECT {DOC_COLUMNS} FROM documents d WHERE id = $1", document_id
            )
        else:
            r = await self.pool.fetchrow(
                f"SELECT {DOC_COLUMNS} FROM documents d WHERE url = $1", url
            )
        return _row_to_doc(r) if r is not None else None

    async def search_documents(
        self, query: str, limit: int = 10, offset: int = 0, job_id: int | None = None
    ) -> SearchPage:
        fts_query(query)  # the same check as SQLite: raises for a query without words
        join, where, params = "", "", []
        if job_id is not None:
            join = "JOIN document_jobs dj ON dj.document_id = d.id"
            where = "AND dj.job_id = $4"
            params = [job_id]
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                SEARCH.format(join=join, where=where), query, limit, offset, *params
            )
            total = await conn.fetchval(
                SEARCH_COUNT.format(join=join, where=where.replace("$4", "$2")), query, *params
            )
        return SearchPage(
            [SearchHit(r[0], r[1], r[2], r[3], float(r[4])) for r in rows], int(total)
        )

    async def list_documents(
        self, limit: int = 50, offset: int = 0, job_id: int | None = None
    ) -> Page:
        async with self.pool.acquire() as conn:
            if job_id is None:
                total = await conn.fetchval("SELECT COUNT(*) FROM documents")
                rows = await conn.fetch(
                    f"SELECT {DOC_COLUMNS} FROM documents d ORDER BY id DESC LIMIT $1 OFFSET $2",
                    limit,
                    offset,
                )
            else:
                total = await conn.fetchval(
                    "SELECT COUNT(*) FROM document_jobs WHERE job_id = $1", job_id
                )
                rows = await conn.fetch(
                    f"SELECT {DOC_COLUMNS} FROM documents d"
                    " JOIN document_jobs dj ON dj.document_id = d.id WHERE dj.job_id = $1"
                    " ORDER BY d.id DESC LIMIT $2 OFFSET $3",
                    job_id,
                    limit,
                    offset,
                )
        return Page([_row_to_doc(r) for r in rows], int(total))
