-- quaero schema, version 1 (PostgreSQL). Same tables and columns as the SQLite schema:
-- timestamps are float epoch seconds (double precision), JSON is jsonb, ids are bigint.
CREATE TABLE jobs (
    -- ids come in blocks from quaero_counters('job_id'), so a parent's id is always
    -- smaller than its children's: locking rows in id order locks ancestors first
    id                  bigint PRIMARY KEY,
    parent_id           bigint,
    root_id             bigint           NOT NULL,
    depth               integer          NOT NULL DEFAULT 0,
    job_type            text             NOT NULL,
    name                text             NOT NULL DEFAULT '',
    config              jsonb            NOT NULL DEFAULT '{}',
    metadata            jsonb            NOT NULL DEFAULT '{}',
    status              text             NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    attempts            integer          NOT NULL DEFAULT 0,
    max_attempts        integer          NOT NULL DEFAULT 3,
    lease_owner         text,
    lease_expires_at    double precision,
    heartbeat_at        double precision,
    available_at        double precision NOT NULL DEFAULT 0,
    created_at          double precision NOT NULL,
    started_at          double precision,
    completed_at        double precision,
    error               text,
    result              jsonb,
    result_count        bigint           NOT NULL DEFAULT 0,
    progress            jsonb,
    waiting             boolean          NOT NULL DEFAULT false,
    dedupe_key          text,
    progress_logged_at  double precision NOT NULL DEFAULT 0,
    child_total         bigint           NOT NULL DEFAULT 0,
    child_pending       bigint           NOT NULL DEFAULT 0,
    child_running       bigint           NOT NULL DEFAULT 0,
    child_completed     bigint           NOT NULL DEFAULT 0,
    child_failed        bigint           NOT NULL DEFAULT 0,
    child_cancelled     bigint           NOT NULL DEFAULT 0
);
-- children of a parent, optionally by status, in id order
CREATE INDEX jobs_parent ON jobs (parent_id, status, id);
-- the claim query walks only pending jobs, oldest first (FOR UPDATE SKIP LOCKED)
CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending';
-- the reaper finds expired leases without a scan
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE lease_owner IS NOT NULL;
-- one child per dedupe key per parent (a crawl's URL de-duplication)
CREATE UNIQUE INDEX jobs_dedupe ON jobs (parent_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- the top-level job listing
CREATE INDEX jobs_top ON jobs (id) WHERE parent_id IS NULL;
CREATE INDEX jobs_root ON jobs (root_id);

CREATE TABLE job_logs (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id   bigint           NOT NULL,
    root_id  bigint           NOT NULL,
    ts       double precision NOT NULL,
    level    text             NOT NULL,
    message  text             NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);
CREATE INDEX job_logs_root ON job_logs (root_id, id);

-- The durable event log. ``seq`` is gap-free and strictly increasing in commit order:
-- it is allocated from quaero_counters('event_seq') by the last statement of each
-- transaction, and that row stays locked until the transaction has committed, so a
-- transaction can only take the next range after the previous one is visible.
CREATE TABLE events (
    seq         bigint PRIMARY KEY,
    type        text             NOT NULL,
    job_id      bigint,
    root_id     bigint,
    payload     jsonb            NOT NULL,
    created_at  double precision NOT NULL
);
CREATE INDEX events_created ON events (created_at);

-- one-row counters: 'event_seq' (last event seq), 'job_id' (last job id handed out)
CREATE TABLE quaero_counters (
    name   text PRIMARY KEY,
    value  bigint NOT NULL
);
INSERT INTO quaero_counters (name, value) VALUES ('event_seq', 0), ('job_id', 0);
