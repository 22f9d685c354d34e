-- quaero schema, version 1 (SQLite)
CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id           INTEGER,
    root_id             INTEGER NOT NULL,
    depth               INTEGER NOT NULL DEFAULT 0,
    job_type            TEXT    NOT NULL,
    name                TEXT    NOT NULL DEFAULT '',
    config              TEXT    NOT NULL DEFAULT '{}',
    metadata            TEXT    NOT NULL DEFAULT '{}',
    status              TEXT    NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL DEFAULT 3,
    lease_owner         TEXT,
    lease_expires_at    REAL,
    heartbeat_at        REAL,
    available_at        REAL    NOT NULL DEFAULT 0,
    created_at          REAL    NOT NULL,
    started_at          REAL,
    completed_at        REAL,
    error               TEXT,
    result              TEXT,
    result_count        INTEGER NOT NULL DEFAULT 0,
    progress            TEXT,
    waiting             INTEGER NOT NULL DEFAULT 0,
    dedupe_key          TEXT,
    progress_logged_at  REAL    NOT NULL DEFAULT 0,
    child_total         INTEGER NOT NULL DEFAULT 0,
    child_pending       INTEGER NOT NULL DEFAULT 0,
    child_running       INTEGER NOT NULL DEFAULT 0,
    child_completed     INTEGER NOT NULL DEFAULT 0,
    child_failed        INTEGER NOT NULL DEFAULT 0,
    child_cancelled     INTEGER NOT NULL DEFAULT 0
);
-- children of a parent, optionally by status, in id order
CREATE INDEX jobs_parent ON jobs (parent_id, status, id);
-- the claim query walks only pending jobs, oldest first
CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending';
-- the reaper finds expired leases without a scan
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE lease_owner IS NOT NULL;
-- one child per dedupe key per parent (a crawl's URL de-duplication)
CREATE UNIQUE INDEX jobs_dedupe ON jobs (parent_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- the top-level job listing
CREATE INDEX jobs_top ON jobs (id) WHERE parent_id IS NULL;
CREATE INDEX jobs_root ON jobs (root_id);

CREATE TABLE job_logs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id   INTEGER NOT NULL,
    root_id  INTEGER NOT NULL,
    ts       REAL    NOT NULL,
    level    TEXT    NOT NULL,
    message  TEXT    NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);
CREATE INDEX job_logs_root ON job_logs (root_id, id);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT    NOT NULL,
    job_id      INTEGER,
    root_id     INTEGER,
    payload     TEXT    NOT NULL,
    created_at  REAL    NOT NULL
);
CREATE INDEX events_created ON events (created_at);
