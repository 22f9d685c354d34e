-- Operating job trees (SQLite): error groups, descendants counters.
-- a failed job's normalised error key (quaero.jobs.error_groups), for indexed filters
ALTER TABLE jobs ADD COLUMN error_group TEXT;
-- every job below this one at any depth, by status (kept in the same transaction)
ALTER TABLE jobs ADD COLUMN desc_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN desc_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN desc_running INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN desc_completed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN desc_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN desc_cancelled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_parent_error ON jobs (parent_id, error_group, id) WHERE error_group IS NOT NULL;
CREATE INDEX jobs_root_error ON jobs (root_id, error_group, id) WHERE error_group IS NOT NULL;
-- failed descendants of a job by error key; samples is a JSON array of recent job ids
CREATE TABLE job_error_groups (
    job_id     INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    samples    TEXT    NOT NULL DEFAULT '[]',
    last_seen  REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
-- descendants of the jobs that existed before this migration
CREATE TEMP TABLE quaero_anc AS
WITH RECURSIVE anc(a, d) AS (
    SELECT parent_id, id FROM jobs WHERE parent_id IS NOT NULL
    UNION ALL
    SELECT j.parent_id, anc.d FROM anc JOIN jobs j ON j.id = anc.a WHERE j.parent_id IS NOT NULL
)
SELECT anc.a AS id, COUNT(*) AS t, SUM(j.status = 'pending') AS p,
       SUM(j.status = 'running') AS r, SUM(j.status = 'completed') AS c,
       SUM(j.status = 'failed') AS f, SUM(j.status = 'cancelled') AS x
FROM anc JOIN jobs j ON j.id = anc.d GROUP BY anc.a;
UPDATE jobs SET desc_total = a.t, desc_pending = a.p, desc_running = a.r,
    desc_completed = a.c, desc_failed = a.f, desc_cancelled = a.x
FROM quaero_anc a WHERE a.id = jobs.id;
DROP TABLE quaero_anc;
