-- Claims walk the due pending jobs of each type a worker serves in due order
-- (job_type, available_at, id), and stop at the limit. Walking every pending job in id
-- order (jobs_pending, 0014) scanned past the pending jobs of types the worker does not
-- serve and past retries not due yet on every claim (bench/claim_scan.py).
--
-- Each round takes a window of candidates: the first few due jobs of each type (one
-- index range scan per type, LATERAL), merged in due order; then locks them one by one
-- in that order, skipping rows another claim holds (SKIP LOCKED re-checks that a row is
-- still pending), up to the limit. A window that other claims emptied is followed by the next
-- one (keyset on available_at, id), so concurrent claimers never come back empty while
-- due jobs are left. Sorts and bitmap scans stay priced out as in 0014: the plan per type
-- is the index walk whatever the statistics say; the window's own sort (a few dozen
-- rows) has no alternative and is used anyway.
CREATE INDEX jobs_due ON jobs (job_type, available_at, id) WHERE status = 'pending';
DROP INDEX jobs_pending;

CREATE OR REPLACE FUNCTION quaero_claim_ids(p_now float8, p_types text[], p_limit int)
RETURNS SETOF bigint LANGUAGE plpgsql VOLATILE
SET enable_sort = off SET enable_bitmapscan = off AS $$
DECLARE
    win int := p_limit + 8;
    after_at float8 := '-infinity';
    after_id bigint := 0;
    ids bigint[];
    ats float8[];
    cid bigint;
    got int := 0;
BEGIN
    IF p_limit <= 0 THEN
        RETURN;
    END IF;
    LOOP
        SELECT array_agg(w.id ORDER BY w.available_at, w.id),
               array_agg(w.available_at ORDER BY w.available_at, w.id)
        INTO ids, ats
        FROM (
            SELECT c.id, c.available_at
            FROM unnest(p_types) AS t(jt)
            CROSS JOIN LATERAL (
                SELECT j.id, j.available_at FROM jobs j
                WHERE j.status = 'pending' AND j.job_type = t.jt AND j.available_at <= p_now
                  AND (j.available_at, j.id) > (after_at, after_id)
                ORDER BY j.available_at, j.id
                LIMIT win
            ) AS c
            ORDER BY c.available_at, c.id
            LIMIT win
        ) AS w;
        EXIT WHEN ids IS NULL;
        -- one at a time, in due order, by primary key: `status || ''` cannot prove
        -- jobs_due's predicate, so no plan walks that index instead (with "status =
        -- 'pending'" and statistics that saw few pending rows, one did: 37-100 ms per
        -- claim behind 20,000 pending jobs of another type); SKIP LOCKED re-checks the
        -- row is still pending and due, and never waits
        FOREACH cid IN ARRAY ids LOOP
            SELECT j.id INTO cid FROM jobs j
            WHERE j.id = cid AND (j.status || '') = 'pending' AND j.available_at <= p_now
            FOR UPDATE SKIP LOCKED;
            IF FOUND THEN
                RETURN NEXT cid;
                got := got + 1;
                EXIT WHEN got >= p_limit;
            END IF;
        END LOOP;
        EXIT WHEN got >= p_limit OR cardinality(ids) < win;
        after_at := ats[cardinality(ats)];
        after_id := ids[cardinality(ids)];
    END LOOP;
END
$$;
