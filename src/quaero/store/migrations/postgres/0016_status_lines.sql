-- The common status lines as ids on the job row, as the embedded store has kept them since
-- issue 9: a job's first "Status changed: running" (at started_at) and its final
-- "Status changed: <terminal status>" without a reason (at completed_at) take a log id
-- from job_logs' own sequence but no row; reads rebuild them from the job row. Two log
-- rows (a heap tuple and three index entries each) fewer per job run, the biggest share
-- of a fan-out's writes after the job rows themselves. Older rows stay as they are.
ALTER TABLE jobs ADD COLUMN run_log_id bigint, ADD COLUMN end_log_id bigint;
-- a root's status lines in log id order (the aggregated log of a tree), from the index
DROP INDEX jobs_root;
CREATE INDEX jobs_root ON jobs (root_id, run_log_id);
CREATE INDEX jobs_end_log ON jobs (root_id, end_log_id) WHERE end_log_id IS NOT NULL;
