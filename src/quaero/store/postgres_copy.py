"""``quaero db copy``: move a SQLite store into an empty PostgreSQL database.

Every table is copied as it is (ids, event seqs, timestamps, counters), with ``COPY`` in
one PostgreSQL transaction, so the copy either fully happens or leaves the target empty.
The source is read in one SQLite read transaction (a consistent snapshot); stop the
workers writing to it first. Afterwards the target's counters continue after the copied
ids: the next job id, event seq, log id and document id follow the largest copied one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import asyncpg

from ..errors import StoreError
from .postgres import PostgresStore
from .sqlite import SqliteStore

__all__ = ["TABLES", "copy_sqlite_to_postgres"]

#: table -> columns, in dependency-free copy order (no foreign keys between them)
TABLES: dict[str, tuple[str, ...]] = {
    "jobs": (
        "id", "parent_id", "root_id", "depth", "job_type", "name", "config", "metadata",
        "status", "attempts", "max_attempts", "lease_owner", "lease_expires_at",
        "heartbeat_at", "available_at", "created_at", "started_at", "completed_at", "error",
        "result", "result_count", "progress", "waiting", "dedupe_key", "progress_logged_at",
        "child_total", "child_pending", "child_running", "child_completed", "child_failed",
        "child_cancelled", "error_group", "desc_total", "desc_pending", "desc_running",
        "desc_completed", "desc_failed", "desc_cancelled",
    ),
    "job_logs": ("id", "job_id", "root_id", "ts", "level", "message"),
    "events": ("seq", "type", "job_id", "root_id", "payload", "created_at"),
    "job_stats": ("job_id", "name", "value"),
    "job_skips": ("job_id", "url", "reason"),
    "job_error_groups": ("job_id", "key", "count", "samples", "last_seen"),
    "documents": (
        "id", "url", "title", "markdown", "fetched_at", "status_code", "content_type",
        "description", "language", "canonical_url", "word_count", "links_found",
        "links_followed", "job_ids", "metadata", "created_at", "updated_at",
    ),
    "document_jobs": ("document_id", "job_id"),
}  # fmt: skip

_BATCH = 5000


def _rows(
    conn: sqlite3.Connection, table: str, columns: Sequence[str]
) -> Iterator[list[tuple[Any, ...]]]:
    cur = conn.execute(f"SELECT {', '.join(columns)} FROM {table}")
    waiting = columns.index("waiting") if "waiting" in columns else -1
    while batch := cur.fetchmany(_BATCH):
        if waiting >= 0:  # SQLite keeps booleans as 0/1
            batch = [(*r[:waiting], bool(r[waiting]), *r[waiting + 1 :]) for r in batch]
        if table == "job_error_groups":  # a JSON array in SQLite, bigint[] in PostgreSQL
            batch = [(*r[:3], json.loads(r[3]), *r[4:]) for r in batch]
        yield batch


async def copy_sqlite_to_postgres(
    source_url: str, target_url: str, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every table; returns rows copied per table. Raises StoreError when the
    target already holds jobs, events or documents."""
    src = SqliteStore(source_url)
    await src.open()  # brings the source up to the current schema
    await src.close()
    dst = PostgresStore(target_url)
    await dst.open()  # migrates the target
    await dst.close()
    sconn = sqlite3.connect(src.path)
    pconn = await asyncpg.connect(target_url)
    counts: dict[str, int] = {}
    try:
        if await pconn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM jobs) OR EXISTS (SELECT 1 FROM events)"
            " OR EXISTS (SELECT 1 FROM documents)"
        ):
            raise StoreError(
                "the target database is not empty (it holds jobs, events or documents)"
            )
        sconn.execute("BEGIN")  # one snapshot of the source
        async with pconn.transaction():
            for table, columns in TABLES.items():
                counts[table] = 0
                for batch in _rows(sconn, table, columns):
                    await pconn.copy_records_to_table(table, records=batch, columns=list(columns))
                    counts[table] += len(batch)
                    if progress is not None:
                        progress(table, counts[table])
            await pconn.execute(
                "UPDATE quaero_counters SET value = GREATEST(value, (SELECT COALESCE(MAX(id), 0) FROM jobs))"
                " WHERE name = 'job_id'"
            )
            last_seq = sconn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
            ).fetchone()
            await pconn.execute(
                "UPDATE quaero_counters SET value = GREATEST($1::bigint, (SELECT COALESCE(MAX(seq), 0) FROM events))"
                " WHERE name = 'event_seq'",
                int(last_seq[0]) if last_seq else 0,
            )
            for table in ("job_logs", "documents"):
                await pconn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1),"
                    f" (SELECT COUNT(*) > 0 FROM {table}))"
                )
    except asyncpg.PostgresError as exc:
        raise StoreError(f"copy failed, nothing was written: {exc}") from exc
    finally:
        sconn.close()
        await pconn.close()
    return counts
