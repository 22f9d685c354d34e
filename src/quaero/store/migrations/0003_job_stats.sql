-- named counters per job, e.g. a crawl's skipped URLs by reason (O(1) upserts)
CREATE TABLE job_stats (
    job_id  INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    value   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, name)
) WITHOUT ROWID
