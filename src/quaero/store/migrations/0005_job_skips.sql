-- URLs (or other keys) a job decided not to process, once each with the reason:
-- a crawl's skipped counts are of distinct URLs, not of the links pointing at them
CREATE TABLE job_skips (
    job_id  INTEGER NOT NULL,
    url     TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    PRIMARY KEY (job_id, url)
) WITHOUT ROWID
