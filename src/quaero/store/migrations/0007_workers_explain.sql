-- The worker registry: one row per worker process, upserted on its heartbeat cadence and
-- removed when it stops gracefully. A row whose expires_at has passed is a dead worker
-- (not live); it is deleted an hour later.
CREATE TABLE workers (
    id            TEXT    PRIMARY KEY,
    host          TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    REAL    NOT NULL,
    concurrency   INTEGER NOT NULL,
    job_types     TEXT    NOT NULL DEFAULT '[]',
    running       INTEGER NOT NULL DEFAULT 0,
    processed     INTEGER NOT NULL DEFAULT 0,
    heartbeat_at  REAL    NOT NULL,
    expires_at    REAL    NOT NULL
);
CREATE INDEX workers_expires ON workers (expires_at);
-- "why is this parent not done": its pending children by type and due time, read by
-- index probes (types by a loose index scan, MIN(available_at), capped counts)
CREATE INDEX jobs_parent_pending ON jobs (parent_id, job_type, available_at, attempts)
    WHERE status = 'pending';
