-- Retention (issue 9). A parent whose children were pruned keeps its counters as they
-- were (never decremented by a prune); this row marks it and keeps that summary so that
-- `quaero db check` compares against it instead of recounting rows that are gone. A
-- top-level tree being pruned whole is marked too (children_only = 0) until it is gone.
CREATE TABLE job_prunes (
    job_id           INTEGER PRIMARY KEY,
    pruned_at        REAL    NOT NULL,
    children_only    INTEGER NOT NULL,
    child_total      INTEGER NOT NULL,
    child_pending    INTEGER NOT NULL,
    child_running    INTEGER NOT NULL,
    child_completed  INTEGER NOT NULL,
    child_failed     INTEGER NOT NULL,
    child_cancelled  INTEGER NOT NULL
);
-- the pruner finds finished top-level trees by status and age, oldest first, no scan
CREATE INDEX jobs_finished_top ON jobs (status, completed_at) WHERE parent_id IS NULL;

-- Bytes per job. The common "Status changed: running" (first start) and
-- "Status changed: <terminal>" lines are not stored as job_logs rows: the job row keeps
-- the log ids they were given (reserved in job_logs' sequence, so they sort among the
-- other lines in commit order) and reads rebuild them from its timestamps.
ALTER TABLE jobs ADD COLUMN run_log_id INTEGER;
ALTER TABLE jobs ADD COLUMN end_log_id INTEGER;
DROP INDEX jobs_root;
-- a tree's jobs (pruning, aggregated logs) and its rebuilt "running" lines in id order
CREATE INDEX jobs_root ON jobs (root_id, run_log_id);
CREATE INDEX jobs_end_log ON jobs (root_id, end_log_id) WHERE end_log_id IS NOT NULL;
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'job_logs', COALESCE((SELECT MAX(id) FROM job_logs), 0)
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'job_logs');
-- events are pruned by seq (created_at grows with seq): its index cost ~40 bytes a child
DROP INDEX events_created;
