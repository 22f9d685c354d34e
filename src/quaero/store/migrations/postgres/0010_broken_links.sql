-- pages of a crawl that answered 404/410: the URL, its status and some pages linking to it
CREATE TABLE job_broken_links (
    job_id     bigint  NOT NULL,
    url        text    NOT NULL,
    status     integer NOT NULL,
    referrers  jsonb   NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, url)
);
-- other URLs a crawl found for a stored document (redirects, canonical twins)
CREATE TABLE document_aliases (
    job_id    bigint NOT NULL,
    url       text   NOT NULL,
    target    text   NOT NULL,
    reason    text   NOT NULL,
    PRIMARY KEY (job_id, url)
);
