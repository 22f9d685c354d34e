-- What happens AT COMMIT, inside the server, in commit order. A transaction keeps its
-- events (quaero.outbox) and the counter deltas of the parents it did not lock
-- (quaero.deltas) in transaction-local settings, as JSON, and inserts ONE row into
-- quaero_commit_hook, whose deferred constraint trigger runs this function during COMMIT.
-- It
--   1. folds the deltas into the parents (locked in id order until the commit is done),
--      makes each parent's parent_job_progress event (and, every log_interval seconds or
--      when no child is active, its progress log line) from the exact counters after
--      this transaction, and notes the waiting parents whose last active child just
--      finished (the store completes those right after the commit);
--   2. locks the 'event_seq' counter row and appends all the events to the log with the
--      next gap-free seqs, then notifies listeners.
-- Row locks are held from here until the commit is visible, so the seq order is the
-- commit order, a parent's progress events carry its counters in that order, and no lock
-- on a hot row (a parent, the seq counter) ever waits for a client round trip.
-- What it did is left in session settings (quaero.last_seq, quaero.flushed,
-- quaero.finish) for the store to read after the commit.
CREATE UNLOGGED TABLE quaero_commit_hook (backend integer NOT NULL);

CREATE FUNCTION quaero_flush_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    outbox jsonb := coalesce(nullif(current_setting('quaero.outbox', true), ''), '[]')::jsonb;
    deltas jsonb := nullif(current_setting('quaero.deltas', true), '')::jsonb;
    meta   jsonb := coalesce(nullif(current_setting('quaero.meta', true), ''), '{}')::jsonb;
    made   jsonb := '[]';
    n      bigint;
    last   bigint;
    finish text;
    pids   bigint[];
BEGIN
    DELETE FROM quaero_commit_hook WHERE backend = NEW.backend;
    IF jsonb_array_length(coalesce(deltas, '[]')) > 0 THEN
        -- (parent ids go through an array: "id = ANY(pids)" is an index lookup)
        SELECT array_agg(DISTINCT (d ->> 0)::bigint ORDER BY (d ->> 0)::bigint) INTO pids
        FROM jsonb_array_elements(deltas) d;
        IF cardinality(pids) > 1 THEN  -- parents in id order, like every other writer
            PERFORM 1 FROM jobs WHERE id = ANY(pids) ORDER BY id FOR UPDATE;
        END IF;
        WITH d AS (
            SELECT (e ->> 0)::bigint AS parent_id, sum((e ->> 1)::bigint) AS t,
                   sum((e ->> 2)::bigint) AS p, sum((e ->> 3)::bigint) AS r,
                   sum((e ->> 4)::bigint) AS c, sum((e ->> 5)::bigint) AS f,
                   sum((e ->> 6)::bigint) AS x
            FROM jsonb_array_elements(deltas) e GROUP BY 1
        ), u AS (
            UPDATE jobs j SET
                child_total = j.child_total + d.t,
                child_pending = j.child_pending + d.p,
                child_running = j.child_running + d.r,
                child_completed = j.child_completed + d.c,
                child_failed = j.child_failed + d.f,
                child_cancelled = j.child_cancelled + d.x,
                progress_logged_at = CASE
                    WHEN (meta ->> 'now')::float8 - j.progress_logged_at
                         >= (meta ->> 'log_interval')::float8
                      OR j.child_pending + d.p + j.child_running + d.r = 0
                    THEN (meta ->> 'now')::float8
                    ELSE j.progress_logged_at END
            FROM d WHERE j.id = d.parent_id AND j.id = ANY(pids)
            RETURNING j.id, j.root_id, j.status, j.waiting, j.child_total, j.child_pending,
                      j.child_running, j.child_completed, j.child_failed, j.child_cancelled,
                      j.progress_logged_at = (meta ->> 'now')::float8 AS logged
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
            SELECT id, 0 AS k, waiting AND status = 'running'
                               AND child_pending + child_running = 0 AS done,
                   jsonb_build_array('parent_job_progress', id, root_id, jsonb_build_object(
                       'job_id', id, 'progress_text', text, 'status', overall,
                       'timestamp', meta ->> 'ts', 'total_children', child_total,
                       'pending_children', child_pending, 'running_children', child_running,
                       'completed_children', child_completed, 'failed_children', child_failed,
                       'cancelled_children', child_cancelled)) AS ev
            FROM pr
            UNION ALL
            SELECT id, 1, false,
                   jsonb_build_array('log', id, root_id, jsonb_build_object(
                       'job_id', id, 'timestamp', meta ->> 'ts', 'level', 'info',
                       'message', text))
            FROM pr WHERE logged
        ) e;
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

CREATE CONSTRAINT TRIGGER quaero_flush AFTER INSERT ON quaero_commit_hook
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quaero_flush_outbox();

-- waiting parents whose children are all done (the sweeper finishes them after a crash)
CREATE INDEX jobs_waiting ON jobs (id) WHERE waiting;
