-- Operating job trees (PostgreSQL): error groups, descendants counters, and the commit
-- hook (0004) extended to fold descendants and error-group deltas of rows a transaction
-- did not lock.
ALTER TABLE jobs ADD COLUMN error_group text,
    ADD COLUMN desc_total bigint NOT NULL DEFAULT 0,
    ADD COLUMN desc_pending bigint NOT NULL DEFAULT 0,
    ADD COLUMN desc_running bigint NOT NULL DEFAULT 0,
    ADD COLUMN desc_completed bigint NOT NULL DEFAULT 0,
    ADD COLUMN desc_failed bigint NOT NULL DEFAULT 0,
    ADD COLUMN desc_cancelled bigint NOT NULL DEFAULT 0;
CREATE INDEX jobs_parent_error ON jobs (parent_id, error_group, id) WHERE error_group IS NOT NULL;
CREATE INDEX jobs_root_error ON jobs (root_id, error_group, id) WHERE error_group IS NOT NULL;
CREATE TABLE job_error_groups (
    job_id     bigint           NOT NULL,
    key        text             NOT NULL,
    count      bigint           NOT NULL,
    samples    bigint[]         NOT NULL DEFAULT '{}',
    last_seen  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, key)
);
WITH RECURSIVE anc(a, d) AS (
    SELECT parent_id, id FROM jobs WHERE parent_id IS NOT NULL
    UNION ALL
    SELECT j.parent_id, anc.d FROM anc JOIN jobs j ON j.id = anc.a WHERE j.parent_id IS NOT NULL
), s AS (
    SELECT anc.a AS id, count(*) AS t,
           count(*) FILTER (WHERE j.status = 'pending') AS p,
           count(*) FILTER (WHERE j.status = 'running') AS r,
           count(*) FILTER (WHERE j.status = 'completed') AS c,
           count(*) FILTER (WHERE j.status = 'failed') AS f,
           count(*) FILTER (WHERE j.status = 'cancelled') AS x
    FROM anc JOIN jobs j ON j.id = anc.d GROUP BY anc.a
)
UPDATE jobs SET desc_total = s.t, desc_pending = s.p, desc_running = s.r,
    desc_completed = s.c, desc_failed = s.f, desc_cancelled = s.x
FROM s WHERE s.id = jobs.id;

-- The commit hook of 0004, extended: a delta is [id, 6 children deltas, 6 descendants
-- deltas, direct] (direct = 1 when the row's own children changed: only then a progress
-- log line); progress events carry "descendants"; error group deltas (quaero.errors:
-- [job_id, key, count, add_ids, remove_ids, last_seen]) are folded into
-- job_error_groups in (job_id, key) order.
CREATE OR REPLACE FUNCTION quaero_flush_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    outbox jsonb := coalesce(nullif(current_setting('quaero.outbox', true), ''), '[]')::jsonb;
    deltas jsonb := nullif(current_setting('quaero.deltas', true), '')::jsonb;
    errs   jsonb := nullif(current_setting('quaero.errors', true), '')::jsonb;
    meta   jsonb := coalesce(nullif(current_setting('quaero.meta', true), ''), '{}')::jsonb;
    made   jsonb := '[]';
    n      bigint;
    last   bigint;
    finish text;
    pids   bigint[];
BEGIN
    DELETE FROM quaero_commit_hook WHERE backend = NEW.backend;
    IF jsonb_array_length(coalesce(deltas, '[]')) > 0 THEN
        SELECT array_agg(DISTINCT (d ->> 0)::bigint ORDER BY (d ->> 0)::bigint) INTO pids
        FROM jsonb_array_elements(deltas) d;
        IF cardinality(pids) > 1 THEN  -- parents in id order, like every other writer
            PERFORM 1 FROM jobs WHERE id = ANY(pids) ORDER BY id FOR UPDATE;
        END IF;
        WITH d AS (
            SELECT (e ->> 0)::bigint AS parent_id, sum((e ->> 1)::bigint) AS t,
                   sum((e ->> 2)::bigint) AS p, sum((e ->> 3)::bigint) AS r,
                   sum((e ->> 4)::bigint) AS c, sum((e ->> 5)::bigint) AS f,
                   sum((e ->> 6)::bigint) AS x,
                   coalesce(sum((e ->> 7)::bigint), 0) AS dt, coalesce(sum((e ->> 8)::bigint), 0) AS dp,
                   coalesce(sum((e ->> 9)::bigint), 0) AS dr, coalesce(sum((e ->> 10)::bigint), 0) AS dc,
                   coalesce(sum((e ->> 11)::bigint), 0) AS df, coalesce(sum((e ->> 12)::bigint), 0) AS dx,
                   coalesce(max((e ->> 13)::int), 1) AS direct
            FROM jsonb_array_elements(deltas) e GROUP BY 1
        ), u AS (
            UPDATE jobs j SET
                child_total = j.child_total + d.t,
                child_pending = j.child_pending + d.p,
                child_running = j.child_running + d.r,
                child_completed = j.child_completed + d.c,
                child_failed = j.child_failed + d.f,
                child_cancelled = j.child_cancelled + d.x,
                desc_total = j.desc_total + d.dt,
                desc_pending = j.desc_pending + d.dp,
                desc_running = j.desc_running + d.dr,
                desc_completed = j.desc_completed + d.dc,
                desc_failed = j.desc_failed + d.df,
                desc_cancelled = j.desc_cancelled + d.dx,
                progress_logged_at = CASE
                    WHEN d.direct = 1 AND (
                         (meta ->> 'now')::float8 - j.progress_logged_at
                         >= (meta ->> 'log_interval')::float8
                      OR j.child_pending + d.p + j.child_running + d.r = 0)
                    THEN (meta ->> 'now')::float8
                    ELSE j.progress_logged_at END
            FROM d WHERE j.id = d.parent_id AND j.id = ANY(pids)
            RETURNING j.id, j.root_id, j.status, j.waiting, j.child_total, j.child_pending,
                      j.child_running, j.child_completed, j.child_failed, j.child_cancelled,
                      j.desc_total, j.desc_pending, j.desc_running, j.desc_completed,
                      j.desc_failed, j.desc_cancelled, d.direct = 1 AS direct,
                      d.direct = 1 AND j.progress_logged_at = (meta ->> 'now')::float8 AS logged
        ), pr AS (
            SELECT u.*,
                   format('%s pending, %s running, %s completed, %s failed', child_pending,
                          child_running, child_completed, child_failed) AS text,
                   CASE WHEN child_total = 0 THEN status
                        WHEN status IN ('cancelled', 'failed') THEN status
                        WHEN child_pending + child_running > 0 THEN 'running'
                        WHEN child_failed > 0 THEN 'failed'
                        WHEN child_cancelled = child_total THEN 'cancelled'
                        ELSE 'completed' END AS overall
            FROM u
        ), lg AS (
            INSERT INTO job_logs (job_id, root_id, ts, level, message)
            SELECT id, root_id, (meta ->> 'now')::float8, 'info', text
            FROM pr WHERE logged ORDER BY id
        )
        SELECT coalesce(jsonb_agg(e.ev ORDER BY e.id, e.k), '[]'),
               string_agg(e.id::text, ',' ORDER BY e.id) FILTER (WHERE e.done)
        INTO made, finish
        FROM (
            SELECT id, 0 AS k, direct AND waiting AND status = 'running'
                               AND child_pending + child_running = 0 AS done,
                   jsonb_build_array('parent_job_progress', id, root_id, jsonb_build_object(
                       'job_id', id, 'progress_text', text, 'status', overall,
                       'timestamp', meta ->> 'ts', 'total_children', child_total,
                       'pending_children', child_pending, 'running_children', child_running,
                       'completed_children', child_completed, 'failed_children', child_failed,
                       'cancelled_children', child_cancelled,
                       'descendants', jsonb_build_object(
                           'total', desc_total, 'pending', desc_pending,
                           'running', desc_running, 'completed', desc_completed,
                           'failed', desc_failed, 'cancelled', desc_cancelled))) AS ev
            FROM pr
            UNION ALL
            SELECT id, 1, false,
                   jsonb_build_array('log', id, root_id, jsonb_build_object(
                       'job_id', id, 'timestamp', meta ->> 'ts', 'level', 'info',
                       'message', text))
            FROM pr WHERE logged
        ) e;
    END IF;
    IF jsonb_array_length(coalesce(errs, '[]')) > 0 THEN
        WITH e AS (
            SELECT (x ->> 0)::bigint AS job_id, x ->> 1 AS key, sum((x ->> 2)::bigint) AS cnt,
                   max((x ->> 5)::float8) AS seen,
                   array_agg(x -> 3) AS adds, array_agg(x -> 4) AS removes
            FROM jsonb_array_elements(errs) x GROUP BY 1, 2
        ), ids AS (
            SELECT e.job_id, e.key, e.cnt, e.seen,
                   ARRAY(SELECT a::bigint FROM unnest(e.adds) l, jsonb_array_elements_text(l) a)
                       AS add_ids,
                   ARRAY(SELECT a::bigint FROM unnest(e.removes) l,
                         jsonb_array_elements_text(l) a) AS remove_ids
            FROM e
        )
        INSERT INTO job_error_groups AS g (job_id, key, count, samples, last_seen)
        SELECT i.job_id, i.key, i.cnt, i.add_ids[1:5], i.seen FROM ids i ORDER BY 1, 2
        ON CONFLICT (job_id, key) DO UPDATE SET
            count = g.count + excluded.count,
            last_seen = greatest(g.last_seen, excluded.last_seen),
            samples = ARRAY(
                SELECT s FROM unnest(excluded.samples || g.samples) WITH ORDINALITY AS t(s, o)
                WHERE NOT s = ANY(coalesce((SELECT i.remove_ids FROM ids i
                                            WHERE i.job_id = g.job_id AND i.key = g.key),
                                           '{}'::bigint[]))
                ORDER BY o LIMIT 5);
        DELETE FROM job_error_groups g
        USING (SELECT DISTINCT (x ->> 0)::bigint AS job_id, x ->> 1 AS key
               FROM jsonb_array_elements(errs) x) d
        WHERE g.job_id = d.job_id AND g.key = d.key AND g.count <= 0;
    END IF;
    outbox := outbox || made;
    n := jsonb_array_length(outbox);
    PERFORM set_config('quaero.finish', coalesce(finish, ''), false),
            set_config('quaero.flushed', n::text, false);
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE quaero_counters SET value = value + n WHERE name = 'event_seq'
    RETURNING value INTO last;
    INSERT INTO events (seq, type, job_id, root_id, payload, created_at)
    SELECT last - n + t.ord, t.e ->> 0, (t.e ->> 1)::bigint, (t.e ->> 2)::bigint, t.e -> 3,
           (meta ->> 'now')::float8
    FROM jsonb_array_elements(outbox) WITH ORDINALITY AS t(e, ord);
    PERFORM set_config('quaero.last_seq', last::text, false),
            pg_notify('quaero_events', last::text);
    RETURN NULL;
END
$$;
