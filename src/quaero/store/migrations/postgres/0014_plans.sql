-- Cheap, stable plans on the hot path (issue 13). Every connection plans generically with
-- sequential scans priced out (quaero.store.postgres._SETTINGS); what a generic plan
-- cannot express is here.
--
-- 1. The claim's candidate scan never sorts. A fan-out fills `jobs` faster than
--    autovacuum's ANALYZE: with "about 1 pending row" as the estimate the planner chose a
--    bitmap scan of every pending job plus a sort for each claim of a few jobs (4.9 ms
--    per claim at 8,000 pending children, growing with the fan-out). With sorts and
--    bitmap scans priced out, the only plan left walks jobs_pending in id order and stops
--    at the limit, whatever the statistics say. PL/pgSQL keeps the plan per session (a
--    SQL function would parse and plan its body on every call).
CREATE FUNCTION quaero_claim_ids(p_now float8, p_types text[], p_limit int)
RETURNS SETOF bigint LANGUAGE plpgsql VOLATILE
SET enable_sort = off SET enable_bitmapscan = off AS $$
BEGIN
    RETURN QUERY
        SELECT j.id FROM jobs j
        WHERE j.status = 'pending' AND j.available_at <= p_now AND j.job_type = ANY(p_types)
        ORDER BY j.id LIMIT p_limit
        FOR UPDATE SKIP LOCKED;
END
$$;

-- 2. The commit hook's rate/ETA helpers (0007) as PL/pgSQL expressions over the (at most
--    ~31) samples: as SQL functions they were parsed and planned on every call, which
--    was ~15 % of the database's CPU in a fan-out. Same results as
--    quaero.jobs.progress.next_samples and timing (elapsed is null before the first
--    start, as there).
CREATE OR REPLACE FUNCTION quaero_next_samples(s jsonb, now float8, fin bigint) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n int := coalesce(jsonb_array_length(s), 0);
    kept jsonb := '[]';
    drop_any boolean := false;
    i int;
BEGIN
    FOR i IN 0 .. n - 1 LOOP
        IF (s -> i ->> 0)::float8 < now - 30.0 THEN
            drop_any := true;
        ELSE
            kept := kept || jsonb_build_array(s -> i);
        END IF;
    END LOOP;
    IF NOT drop_any THEN
        kept := coalesce(s, '[]');
    END IF;
    IF jsonb_array_length(kept) = 0 OR now - (kept -> -1 ->> 0)::float8 >= 1.0 THEN
        kept := kept || jsonb_build_array(jsonb_build_array(now, fin));
    END IF;
    RETURN kept;
END
$$;

CREATE OR REPLACE FUNCTION quaero_timing(overall text, total bigint, active bigint, fin bigint,
                                         s jsonb, now float8, started float8, completed float8)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    done boolean := overall IN ('completed', 'failed', 'cancelled');
    elapsed float8;
    rate float8;
    eta float8;
    t0 float8;
    f0 float8;
    i int;
BEGIN
    IF started IS NOT NULL THEN
        elapsed := greatest(0.0, (CASE WHEN done AND completed IS NOT NULL
                                       THEN completed ELSE now END) - started);
    END IF;
    IF total > 0 AND done THEN
        rate := 0.0;
        eta := 0.0;
    ELSIF total > 0 THEN
        FOR i IN 0 .. coalesce(jsonb_array_length(s), 0) - 1 LOOP
            IF (s -> i ->> 0)::float8 >= now - 30.0 THEN  -- the oldest sample in the window
                t0 := (s -> i ->> 0)::float8;
                f0 := (s -> i ->> 1)::float8;
                EXIT;
            END IF;
        END LOOP;
        IF t0 IS NOT NULL AND now - t0 >= 1.0 THEN
            rate := (fin - f0) / (now - t0);
        END IF;
        IF rate IS NOT NULL AND rate <> 0 THEN
            eta := active / rate;
        END IF;
    END IF;
    RETURN jsonb_build_object('elapsed_seconds', elapsed, 'rate', rate, 'eta_seconds', eta);
END
$$;
