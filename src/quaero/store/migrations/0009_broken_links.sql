-- pages of a crawl that answered 404/410: the URL, its status and some pages linking to it
CREATE TABLE job_broken_links (
    job_id     INTEGER NOT NULL,
    url        TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    referrers  TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, url)
) WITHOUT ROWID;
-- other URLs a crawl found for a stored document (redirects, canonical twins)
CREATE TABLE document_aliases (
    job_id    INTEGER NOT NULL,
    url       TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    PRIMARY KEY (job_id, url)
) WITHOUT ROWID
