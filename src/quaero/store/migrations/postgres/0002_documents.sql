-- documents saved by crawls, upserted by URL, searchable with PostgreSQL's own text search:
-- a stored tsvector (title weight A, description B, body D) with a GIN index
CREATE TABLE documents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text             NOT NULL UNIQUE,
    title           text             NOT NULL DEFAULT '',
    markdown        text             NOT NULL DEFAULT '',
    fetched_at      double precision NOT NULL,
    status_code     integer          NOT NULL DEFAULT 200,
    content_type    text             NOT NULL DEFAULT '',
    description     text             NOT NULL DEFAULT '',
    language        text             NOT NULL DEFAULT '',
    canonical_url   text             NOT NULL DEFAULT '',
    word_count      integer          NOT NULL DEFAULT 0,
    links_found     integer          NOT NULL DEFAULT 0,
    links_followed  integer          NOT NULL DEFAULT 0,
    job_ids         jsonb            NOT NULL DEFAULT '[]',
    metadata        jsonb            NOT NULL DEFAULT '{}',
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    -- the body is capped so a huge page cannot exceed tsvector's 1 MB limit
    search          tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', description), 'B')
        || setweight(to_tsvector('english', left(markdown, 400000)), 'D')
    ) STORED
);
CREATE INDEX documents_search ON documents USING gin (search);

-- which crawls (root jobs) saved which documents: the per-crawl document count
CREATE TABLE document_jobs (
    document_id  bigint NOT NULL,
    job_id       bigint NOT NULL,
    PRIMARY KEY (job_id, document_id)
);
CREATE INDEX document_jobs_document ON document_jobs (document_id);
