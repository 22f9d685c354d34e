-- The commit hook reports the waiting parents it found done (their last active child
-- finished in this commit) to the committing session in a NOTICE, which arrives with
-- the COMMIT's own reply: the store finishes them right away without another round
-- trip to read what the hook did (quaero.store.postgres_base). Runs after
-- quaero_flush (triggers on one event fire in name order); silent when there is
-- nothing to report.
CREATE FUNCTION quaero_report_finish() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    finish text := current_setting('quaero.finish', true);
BEGIN
    IF finish IS NOT NULL AND finish <> '' THEN
        RAISE NOTICE 'quaero finish: %', finish;
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER quaero_flush_report AFTER INSERT ON quaero_commit_hook
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quaero_report_finish();
