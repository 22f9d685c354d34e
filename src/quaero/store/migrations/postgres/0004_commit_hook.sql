-- Event seqs are assigned AT COMMIT, inside the server, by a deferred constraint trigger:
-- a transaction queues its events in its session's temporary table pg_temp.quaero_outbox
-- and inserts one row into pg_temp.quaero_commit_hook, whose deferred trigger runs this
-- function during COMMIT. It locks the 'event_seq' counter row, moves the queued events
-- into the log with the next gap-free seqs and notifies listeners. The row lock is held
-- from here until the commit is complete and visible, so seq order is commit order, and
-- the lock never waits on a client round trip. (Both temporary tables are created per
-- connection by the store; see postgres_sql.SESSION_SETUP.)
CREATE FUNCTION quaero_flush_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n    bigint;
    last bigint;
BEGIN
    SELECT count(*) INTO n FROM pg_temp.quaero_outbox;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE quaero_counters SET value = value + n WHERE name = 'event_seq'
    RETURNING value INTO last;
    INSERT INTO events (seq, type, job_id, root_id, payload, created_at)
    SELECT last - n + row_number() OVER (ORDER BY ord), type, job_id, root_id, payload,
           created_at
    FROM pg_temp.quaero_outbox;
    DELETE FROM pg_temp.quaero_outbox;
    PERFORM set_config('quaero.last_seq', last::text, false);
    PERFORM pg_notify('quaero_events', last::text);
    RETURN NULL;
END
$$;
