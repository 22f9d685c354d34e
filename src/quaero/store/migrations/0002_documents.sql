-- documents saved by crawls, upserted by URL, with an FTS5 index (titles weigh more)
CREATE TABLE documents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    url             TEXT    NOT NULL UNIQUE,
    title           TEXT    NOT NULL DEFAULT '',
    markdown        TEXT    NOT NULL DEFAULT '',
    fetched_at      REAL    NOT NULL,
    status_code     INTEGER NOT NULL DEFAULT 200,
    content_type    TEXT    NOT NULL DEFAULT '',
    description     TEXT    NOT NULL DEFAULT '',
    language        TEXT    NOT NULL DEFAULT '',
    canonical_url   TEXT    NOT NULL DEFAULT '',
    word_count      INTEGER NOT NULL DEFAULT 0,
    links_found     INTEGER NOT NULL DEFAULT 0,
    links_followed  INTEGER NOT NULL DEFAULT 0,
    job_ids         TEXT    NOT NULL DEFAULT '[]',
    metadata        TEXT    NOT NULL DEFAULT '{}',
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL
);
-- which crawls (root jobs) saved which documents: the per-crawl document count
CREATE TABLE document_jobs (
    document_id  INTEGER NOT NULL,
    job_id       INTEGER NOT NULL,
    PRIMARY KEY (job_id, document_id)
) WITHOUT ROWID;
CREATE INDEX document_jobs_document ON document_jobs (document_id);

CREATE VIRTUAL TABLE documents_fts USING fts5 (
    title, description, markdown,
    content = 'documents', content_rowid = 'id',
    tokenize = 'porter unicode61'
);
CREATE TRIGGER documents_ai AFTER INSERT ON documents BEGIN
    INSERT INTO documents_fts (rowid, title, description, markdown)
    VALUES (new.id, new.title, new.description, new.markdown);
END;
CREATE TRIGGER documents_ad AFTER DELETE ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, description, markdown)
    VALUES ('delete', old.id, old.title, old.description, old.markdown);
END;
CREATE TRIGGER documents_au AFTER UPDATE OF title, description, markdown ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, description, markdown)
    VALUES ('delete', old.id, old.title, old.description, old.markdown);
    INSERT INTO documents_fts (rowid, title, description, markdown)
    VALUES (new.id, new.title, new.description, new.markdown);
END
