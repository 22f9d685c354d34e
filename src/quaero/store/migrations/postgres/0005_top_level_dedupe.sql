-- top-level jobs with a dedupe key (e.g. one scheduled run per definition and fire time):
-- a unique index on (parent_id, dedupe_key) does not cover them, since NULLs are distinct
CREATE UNIQUE INDEX jobs_dedupe_top ON jobs (dedupe_key)
    WHERE parent_id IS NULL AND dedupe_key IS NOT NULL;
