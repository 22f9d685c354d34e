-- Retention (issue 9). A parent whose children were pruned keeps its counters as they
-- were (never decremented by a prune); this row marks it and keeps that summary so that
-- `quaero db check` compares against it instead of recounting rows that are gone. A
-- top-level tree being pruned whole is marked too (children_only = false) until it is gone.
CREATE TABLE job_prunes (
    job_id           bigint           PRIMARY KEY,
    pruned_at        double precision NOT NULL,
    children_only    boolean          NOT NULL,
    child_total      bigint           NOT NULL,
    child_pending    bigint           NOT NULL,
    child_running    bigint           NOT NULL,
    child_completed  bigint           NOT NULL,
    child_failed     bigint           NOT NULL,
    child_cancelled  bigint           NOT NULL
);
-- the pruner finds finished top-level trees by status and age, oldest first, no scan
CREATE INDEX jobs_finished_top ON jobs (status, completed_at) WHERE parent_id IS NULL;
