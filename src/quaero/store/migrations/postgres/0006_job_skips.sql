-- URLs (or other keys) a job decided not to process, once each with the reason:
-- a crawl's skipped counts are of distinct URLs, not of the links pointing at them
CREATE TABLE job_skips (
    job_id  bigint NOT NULL,
    url     text   NOT NULL,
    reason  text   NOT NULL,
    PRIMARY KEY (job_id, url)
);
