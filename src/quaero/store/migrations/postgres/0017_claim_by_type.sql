-- The claim reads only due pending jobs of the types it asks for. 0014's scan walked
-- every pending job in id order and filtered by type, so a worker limited to a rare type
-- (`quaero worker --type crawl_page` beside a 100,000-child fan-out of another type)
-- read every pending row ahead of its few jobs on each claim (40,000 buffers, 15 ms at
-- 20,000 pending). Pending jobs are now indexed by (type, id) instead of id alone (as
-- many entries as before), and a claim takes, per type, the first due ids in id order,
-- merges them, and locks the lowest in id order, skipping rows others hold: FIFO among
-- the due jobs of its types, and bounded work (4 x the limit candidates per type, so a
-- claim racing others that hold some of them still fills its slots) whatever the plan.
DROP INDEX jobs_pending;
CREATE INDEX jobs_pending ON jobs (job_type, id) WHERE status = 'pending';

CREATE OR REPLACE FUNCTION quaero_claim_ids(p_now float8, p_types text[], p_limit int)
RETURNS SETOF bigint LANGUAGE plpgsql VOLATILE SET enable_sort = off AS $$
DECLARE
    candidate bigint;
    locked bigint;
    taken int := 0;
BEGIN
    -- each candidate is then locked by its primary key, one at a time: no plan the
    -- planner may choose from a small table's statistics can turn this into a scan
    FOR candidate IN
        SELECT c.id FROM unnest(p_types) AS t(name)
        CROSS JOIN LATERAL (
            SELECT p.id FROM jobs p
            -- a range, not an equality: the order (job_type, id) then only comes from
            -- reading jobs_pending in its order (never from walking the primary key and
            -- filtering, which statistics can make look cheaper: O(jobs) for a rare type)
            WHERE p.status = 'pending' AND p.job_type >= t.name AND p.job_type <= t.name
              AND p.available_at <= p_now
            ORDER BY p.job_type, p.id LIMIT 4 * p_limit
        ) AS c
        ORDER BY c.id LIMIT 4 * p_limit
    LOOP
        SELECT j.id INTO locked FROM jobs j
        WHERE j.id = candidate AND j.status = 'pending' AND j.available_at <= p_now
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            RETURN NEXT locked;
            taken := taken + 1;
            EXIT WHEN taken >= p_limit;
        END IF;
    END LOOP;
END
$$;
