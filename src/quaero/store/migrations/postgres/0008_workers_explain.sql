-- The worker registry: one row per worker process, upserted on its heartbeat cadence and
-- removed when it stops gracefully. A row whose expires_at has passed is a dead worker
-- (not live); it is deleted an hour later.
CREATE TABLE workers (
    id            text             PRIMARY KEY,
    host          text             NOT NULL,
    pid           integer          NOT NULL,
    started_at    double precision NOT NULL,
    concurrency   integer          NOT NULL,
    job_types     jsonb            NOT NULL DEFAULT '[]',
    running       integer          NOT NULL DEFAULT 0,
    processed     bigint           NOT NULL DEFAULT 0,
    heartbeat_at  double precision NOT NULL,
    expires_at    double precision NOT NULL
);
CREATE INDEX workers_expires ON workers (expires_at);
-- "why is this parent not done": its pending children by type and due time, read by
-- index probes (types by a loose index scan, MIN(available_at), capped counts)
CREATE INDEX jobs_parent_pending ON jobs (parent_id, job_type, available_at, attempts)
    WHERE status = 'pending';
