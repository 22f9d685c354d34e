-- named counters per job, e.g. a crawl's skipped URLs by reason (O(1) upserts)
CREATE TABLE job_stats (
    job_id  bigint NOT NULL,
    name    text   NOT NULL,
    value   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, name)
);
