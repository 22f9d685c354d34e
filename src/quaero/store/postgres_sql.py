"""Named SQL of the PostgreSQL backend (``$n`` parameters; arrays go in through ``unnest``).

Every statement is written so that its plan is index lookups whatever the estimates
(``id = ANY(ARRAY(...))``, ``LATERAL``): plans are generic (``plan_cache_mode``), made
once per connection, often while the tables are still small; a join the planner may turn
into a scan of all jobs would make a 100,000-child run quadratic.

Row locks are taken in id order (``ORDER BY id FOR UPDATE``). Job ids are handed out in
increasing blocks, so a parent's id is smaller than its children's and "parents first" is
"smaller ids first". Status changes lock only the changing jobs and leave their parents'
counters to the commit hook (migration 0004), which locks the parents at COMMIT.
"""

from __future__ import annotations

from .rows import STATUS_END_LINES, STATUS_RUN_LINES

#: the columns of a job, in the order :func:`quaero.store.postgres_tx.row_to_job` reads them
JOB_COLUMNS = (
    "id, parent_id, root_id, depth, job_type, name, config::text, metadata::text, status,"
    " attempts, max_attempts, lease_owner, lease_expires_at, heartbeat_at, available_at,"
    " created_at, started_at, completed_at, error, result::text, result_count, progress::text,"
    " waiting, dedupe_key, progress_logged_at, child_total, child_pending, child_running,"
    " child_completed, child_failed, child_cancelled, error_group, desc_total, desc_pending,"
    " desc_running, desc_completed, desc_failed, desc_cancelled, progress_samples::text"
)

#: the same minus the JSON a status change does not need (config, metadata, result, progress)
STATE_COLUMNS = (
    "id, parent_id, root_id, depth, job_type, name, NULL::text, NULL::text, status,"
    " attempts, max_attempts, lease_owner, lease_expires_at, heartbeat_at, available_at,"
    " created_at, started_at, completed_at, error, NULL::text, result_count, NULL::text,"
    " waiting, dedupe_key, progress_logged_at, child_total, child_pending, child_running,"
    " child_completed, child_failed, child_cancelled, error_group, desc_total, desc_pending,"
    " desc_running, desc_completed, desc_failed, desc_cancelled, progress_samples::text"
)

COUNTER_NAMES = ("total", "pending", "running", "completed", "failed", "cancelled")

SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"

# The jobs $1 and their parents, locked in id order (parents first). The locking query
# returns the newest version of each row, even after waiting for another transaction.
LOCK_WITH_PARENTS = f"""
WITH t AS (SELECT id, parent_id FROM jobs WHERE id = ANY($1::bigint[]))
SELECT {STATE_COLUMNS} FROM jobs
WHERE id = ANY(ARRAY(SELECT id FROM t UNION SELECT parent_id FROM t WHERE parent_id IS NOT NULL))
ORDER BY id FOR UPDATE
"""

LOCK_IDS = f"SELECT {STATE_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"

# A cancel locks its subtree children first (descending ids): a worker's transaction that
# holds a child and, at COMMIT, folds its delta into the parent must never wait for a
# cancel that already holds that parent and waits for the child.
# a subtree, deepest level first (a commit locks children before their parents), and
# within a level in id order (as claims and completions lock siblings)
LOCK_IDS_DESC = (
    f"SELECT {STATE_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[])"
    " ORDER BY depth DESC, id FOR UPDATE"
)

# Status changes lock only the jobs that change (in id order); their parents are read
# without a lock, because a parent's counters change by deltas folded in at COMMIT
# (migration 0004). The first column says which rows are locked.
LOCK_CHANGED = f"""
WITH d AS (
    SELECT {STATE_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
)
SELECT true, * FROM d
UNION ALL
SELECT false, {STATE_COLUMNS} FROM jobs
WHERE id = ANY(ARRAY(SELECT parent_id FROM d)) AND NOT id = ANY($1::bigint[])
"""

# Due pending jobs in id order, skipping rows other claimers hold (locked by
# quaero_claim_ids, migration 0014, whose plan never sorts), and their parents (not locked).
CLAIM = f"""
WITH ids AS (SELECT quaero_claim_ids($1, $2::text[], $3) AS id),
c AS (SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY(ARRAY(SELECT id FROM ids)) ORDER BY id)
SELECT true, * FROM c
UNION ALL
SELECT false, {STATE_COLUMNS} FROM jobs
WHERE id = ANY(ARRAY(SELECT parent_id FROM c)) AND NOT id = ANY(ARRAY(SELECT id FROM ids))
"""

# A worker's flush in one statement: lock the jobs that change (in id order), then claim
# due pending jobs (SKIP LOCKED: never waits, so the lock order holds), and read the
# parents of both without a lock. The first column says which: 0 changed (locked),
# 1 claimed (locked), 2 parent (not locked). One round trip instead of two.
LOCK_AND_CLAIM = f"""
WITH d AS (
    SELECT {STATE_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
), ids AS (
    SELECT quaero_claim_ids($2, $3::text[], $4) AS id FROM (SELECT count(*) FROM d) AS locked
), c AS (SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY(ARRAY(SELECT id FROM ids)) ORDER BY id)
SELECT 0, * FROM d
UNION ALL
SELECT 1, * FROM c
UNION ALL
SELECT 2, {STATE_COLUMNS} FROM jobs
WHERE id = ANY(ARRAY(SELECT parent_id FROM d UNION SELECT parent_id FROM c))
  AND NOT id = ANY(ARRAY(SELECT id FROM d UNION ALL SELECT id FROM ids))
"""

# Expired leases (locked, skipping rows others hold) and their parents (not locked).
EXPIRED = f"""
WITH e AS (
    SELECT {STATE_COLUMNS} FROM jobs
    WHERE lease_owner IS NOT NULL AND lease_expires_at < $1 AND status = 'running'
    ORDER BY lease_expires_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
SELECT true, * FROM e
UNION ALL
SELECT false, {STATE_COLUMNS} FROM jobs
WHERE id = ANY(ARRAY(SELECT parent_id FROM e)) AND NOT id = ANY(ARRAY(SELECT id FROM e))
"""

# waiting parents with no active child left (normally finished right after the commit
# that made them so; this finds those a crash left behind)
READY_PARENTS = """
SELECT id FROM jobs
WHERE waiting AND status = 'running' AND child_pending = 0 AND child_running = 0
ORDER BY id LIMIT $1
"""

HEARTBEAT = """
UPDATE jobs SET lease_expires_at = $1, heartbeat_at = $2
WHERE id IN (
    SELECT id FROM jobs
    WHERE id = ANY($4::bigint[]) AND lease_owner = $3 AND status = 'running'
    ORDER BY id FOR UPDATE
)
RETURNING id
"""

TAKE_JOB_IDS = """
UPDATE quaero_counters SET value = value + $1 WHERE name = 'job_id' RETURNING value - $1 + 1
"""

DEDUPE_TAKEN = """
SELECT j.parent_id, j.dedupe_key
FROM unnest($1::bigint[], $2::text[]) AS t(parent_id, dedupe_key)
CROSS JOIN LATERAL (
    SELECT parent_id, dedupe_key FROM jobs
    WHERE parent_id = t.parent_id AND dedupe_key = t.dedupe_key
) j
UNION ALL
SELECT NULL, dedupe_key FROM jobs WHERE parent_id IS NULL AND dedupe_key = ANY($3::text[])
"""

SUBTREE_STATE = """
WITH RECURSIVE sub(id) AS (
    SELECT $1::bigint UNION ALL SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id
)
SELECT j.id, j.parent_id, j.status, j.depth FROM jobs j JOIN sub USING (id)
"""

# Everything a transaction writes, in one statement: new jobs, changed job rows, log lines,
# and, kept in transaction-local settings as JSON, its events ($38), the counter deltas
# (children and descendants) of the ancestors it did not lock ($39) and its error group
# deltas ($49); the commit hook ($41: once per transaction) folds the deltas and numbers
# the events at COMMIT (migrations 0004, 0007). Log lines take ids in the plan's order
# ($51 of them); lines at those positions ($56) are rows, and the common status lines of
# rows it updates are kept as ids on the row instead ($52/$53 per row: the position of
# the new line, 0 to clear, -1 to keep; $54/$55: rows whose kept line becomes a row
# first; migration 0016).
WRITE = """
WITH lid AS (  -- log ids for the plan's lines ($51 of them), in the plan's order
    SELECT ARRAY(SELECT nextval('job_logs_id_seq') FROM generate_series(1, $51)) AS ids
), ins AS (
    INSERT INTO jobs (id, parent_id, root_id, depth, job_type, name, config, metadata, status,
                      max_attempts, available_at, created_at, dedupe_key)
    SELECT i.id, i.parent_id, i.root_id, i.depth, i.job_type, i.name, i.config::jsonb,
           i.metadata::jsonb, i.status, i.max_attempts, i.available_at, i.created_at,
           i.dedupe_key
    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::int[], $11::float8[], $12::float8[],
                $13::text[])
         AS i(id, parent_id, root_id, depth, job_type, name, config, metadata, status,
              max_attempts, available_at, created_at, dedupe_key)
), keep AS (  -- status lines rows stood for and stop standing for become rows (old ids)
    INSERT INTO job_logs (id, job_id, root_id, ts, level, message) OVERRIDING SYSTEM VALUE
    SELECT run_log_id, id, root_id, started_at, 'info', 'Status changed: running'
    FROM jobs WHERE id = ANY($54::bigint[]) AND run_log_id IS NOT NULL
    UNION ALL
    SELECT end_log_id, id, root_id, completed_at,
           CASE status WHEN 'failed' THEN 'error' ELSE 'info' END, 'Status changed: ' || status
    FROM jobs WHERE id = ANY($55::bigint[]) AND end_log_id IS NOT NULL
), upd AS (
    UPDATE jobs SET status = u.status, attempts = u.attempts, lease_owner = u.lease_owner,
        lease_expires_at = u.lease_expires_at, heartbeat_at = u.heartbeat_at,
        available_at = u.available_at, started_at = u.started_at,
        completed_at = u.completed_at, error = u.error,
        result = COALESCE(u.result::jsonb, jobs.result), waiting = u.waiting,
        progress_logged_at = u.progress_logged_at, child_total = u.c_total,
        child_pending = u.c_pending, child_running = u.c_running,
        child_completed = u.c_completed, child_failed = u.c_failed,
        child_cancelled = u.c_cancelled, error_group = u.error_group,
        desc_total = u.d_total, desc_pending = u.d_pending, desc_running = u.d_running,
        desc_completed = u.d_completed, desc_failed = u.d_failed,
        desc_cancelled = u.d_cancelled, progress_samples = u.samples::jsonb,
        run_log_id = CASE WHEN u.run_sel < 0 THEN jobs.run_log_id WHEN u.run_sel > 0
                          THEN (SELECT ids[u.run_sel] FROM lid) END,
        end_log_id = CASE WHEN u.end_sel < 0 THEN jobs.end_log_id WHEN u.end_sel > 0
                          THEN (SELECT ids[u.end_sel] FROM lid) END
    FROM unnest($14::bigint[], $15::text[], $16::int[], $17::text[], $18::float8[],
                $19::float8[], $20::float8[], $21::float8[], $22::float8[], $23::text[],
                $24::text[], $25::bool[], $26::float8[], $27::bigint[], $28::bigint[],
                $29::bigint[], $30::bigint[], $31::bigint[], $32::bigint[], $42::text[],
                $43::bigint[], $44::bigint[], $45::bigint[], $46::bigint[], $47::bigint[],
                $48::bigint[], $50::text[], $52::int[], $53::int[])
         AS u(id, status, attempts, lease_owner, lease_expires_at, heartbeat_at, available_at,
              started_at, completed_at, error, result, waiting, progress_logged_at, c_total,
              c_pending, c_running, c_completed, c_failed, c_cancelled, error_group, d_total,
              d_pending, d_running, d_completed, d_failed, d_cancelled, samples, run_sel,
              end_sel)
    WHERE jobs.id = u.id
), lg AS (
    INSERT INTO job_logs (id, job_id, root_id, ts, level, message) OVERRIDING SYSTEM VALUE
    SELECT lid.ids[l.n], l.job_id, l.root_id, l.ts, l.level, l.message
    FROM lid, unnest($56::int[], $33::bigint[], $34::bigint[], $35::float8[], $36::text[],
                     $37::text[]) AS l(n, job_id, root_id, ts, level, message)
), hk AS (
    INSERT INTO quaero_commit_hook SELECT pg_backend_pid() WHERE $41
)
SELECT set_config('quaero.outbox', (coalesce(nullif(current_setting('quaero.outbox', true),
                                    ''), '[]')::jsonb || $38::jsonb)::text, true)
       || set_config('quaero.deltas', (coalesce(nullif(current_setting('quaero.deltas', true),
                                    ''), '[]')::jsonb || $39::jsonb)::text, true)
       || set_config('quaero.meta', $40, true)
       || set_config('quaero.errors', (coalesce(nullif(current_setting('quaero.errors', true),
                                    ''), '[]')::jsonb || $49::jsonb)::text, true)
"""

# What the commit hook left in the session: the last seq, how many events it numbered,
# the parents to finish, and the events it made itself (from the $1-th on), in one trip.
AFTER_COMMIT = """
WITH g AS (
    SELECT current_setting('quaero.last_seq', true)::bigint AS last,
           current_setting('quaero.flushed', true)::bigint AS n,
           current_setting('quaero.finish', true) AS finish
)
SELECT g.last, g.n, g.finish,
       (SELECT json_agg(json_build_array(seq, type, job_id, root_id, payload) ORDER BY seq)
        FROM events WHERE $2 AND g.n > $1 AND seq BETWEEN g.last - g.n + 1 + $1 AND g.last)::text
FROM g
"""


# Log lines of existing jobs (unknown job ids dropped) and, when $6, one ``log`` event each.
# Returns the last seq and the (1-based) positions of the entries that got an event.
ADD_LOGS = """
WITH l AS (
    SELECT l.n, l.job_id, j.root_id, l.ts, l.level, l.message, l.payload
    FROM unnest($1::bigint[], $2::float8[], $3::text[], $4::text[], $5::text[])
         WITH ORDINALITY AS l(job_id, ts, level, message, payload, n)
    JOIN jobs j ON j.id = l.job_id
), lg AS (
    INSERT INTO job_logs (job_id, root_id, ts, level, message)
    SELECT job_id, root_id, ts, level, message FROM l ORDER BY n
), k AS (
    SELECT row_number() OVER (ORDER BY n) AS k, n, job_id, root_id, payload FROM l WHERE $6
), s AS (
    UPDATE quaero_counters SET value = value + (SELECT count(*) FROM k)
    WHERE name = 'event_seq' AND EXISTS (SELECT 1 FROM k)
    RETURNING value
), ev AS (
    INSERT INTO events (seq, type, job_id, root_id, payload, created_at)
    SELECT s.value - (SELECT count(*) FROM k) + k.k, 'log', k.job_id, k.root_id,
           k.payload::jsonb, $7
    FROM s, k
)
SELECT s.value, (SELECT array_agg(n ORDER BY n) FROM k), pg_notify('quaero_events', s.value::text)
FROM s
"""

SET_PROGRESS = """
WITH j AS (
    UPDATE jobs SET progress = $2::jsonb WHERE id = $1 RETURNING id, root_id
), s AS (
    UPDATE quaero_counters SET value = value + 1
    WHERE name = 'event_seq' AND EXISTS (SELECT 1 FROM j)
    RETURNING value
), ev AS (
    INSERT INTO events (seq, type, job_id, root_id, payload, created_at)
    SELECT s.value, 'job_progress', j.id, j.root_id, $3::jsonb, $4 FROM s, j
)
SELECT j.root_id, s.value, pg_notify('quaero_events', s.value::text) FROM j, s
"""

ADD_RESULT_COUNT = "UPDATE jobs SET result_count = result_count + $2 WHERE id = $1"

DELETE_SUBTREE = """
WITH l AS (DELETE FROM job_logs WHERE job_id = ANY($1::bigint[])),
     d AS (DELETE FROM document_jobs WHERE job_id = ANY($1::bigint[])),
     s AS (DELETE FROM job_stats WHERE job_id = ANY($1::bigint[])),
     k AS (DELETE FROM job_skips WHERE job_id = ANY($1::bigint[])),
     g AS (DELETE FROM job_error_groups WHERE job_id = ANY($1::bigint[])),
     b AS (DELETE FROM job_broken_links WHERE job_id = ANY($1::bigint[])),
     a AS (DELETE FROM document_aliases WHERE job_id = ANY($1::bigint[]))
DELETE FROM jobs WHERE id = ANY($1::bigint[])
"""

STATS_TOP = "SELECT status, COUNT(*) FROM jobs WHERE parent_id IS NULL GROUP BY status"
STATS_ALL = "SELECT status, COUNT(*) FROM jobs GROUP BY status"

RECOUNT = """
SELECT p.id,
       p.child_total, p.child_pending, p.child_running, p.child_completed, p.child_failed,
       p.child_cancelled,
       COALESCE(c.total, 0), COALESCE(c.pending, 0), COALESCE(c.running, 0),
       COALESCE(c.completed, 0), COALESCE(c.failed, 0), COALESCE(c.cancelled, 0)
FROM jobs p
LEFT JOIN (
    SELECT parent_id,
           COUNT(*) AS total,
           COUNT(*) FILTER (WHERE status = 'pending') AS pending,
           COUNT(*) FILTER (WHERE status = 'running') AS running,
           COUNT(*) FILTER (WHERE status = 'completed') AS completed,
           COUNT(*) FILTER (WHERE status = 'failed') AS failed,
           COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM jobs WHERE parent_id IS NOT NULL GROUP BY parent_id
) c ON c.parent_id = p.id
WHERE p.child_total != COALESCE(c.total, 0)
   OR p.child_pending != COALESCE(c.pending, 0)
   OR p.child_running != COALESCE(c.running, 0)
   OR p.child_completed != COALESCE(c.completed, 0)
   OR p.child_failed != COALESCE(c.failed, 0)
   OR p.child_cancelled != COALESCE(c.cancelled, 0)
ORDER BY p.id
"""

EVENT_BOUNDS = """
SELECT (SELECT MIN(seq) FROM events), (SELECT value FROM quaero_counters WHERE name = 'event_seq')
"""

HAS_ACTIVE_WORKERS = (
    "SELECT EXISTS (SELECT 1 FROM jobs WHERE lease_owner IS NOT NULL AND heartbeat_at > $1)"
)

ADD_JOB_STATS = """
INSERT INTO job_stats (job_id, name, value)
SELECT $1, s.name, s.value FROM unnest($2::text[], $3::bigint[]) AS s(name, value)
WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1)
ORDER BY s.name
ON CONFLICT (job_id, name) DO UPDATE SET value = job_stats.value + excluded.value
"""

JOB_STATS_FOR = "SELECT job_id, name, value FROM job_stats WHERE job_id = ANY($1::bigint[])"

CHILDREN_PRUNED_FOR = (
    "SELECT job_id, pruned_at FROM job_prunes WHERE children_only AND job_id = ANY($1::bigint[])"
)

RECORD_SKIPS = """
WITH ins AS (
    INSERT INTO job_skips (job_id, url, reason)
    SELECT $1, s.url, s.reason FROM unnest($2::text[], $3::text[]) AS s(url, reason)
    ORDER BY s.url
    ON CONFLICT DO NOTHING RETURNING reason
)
SELECT reason, count(*) FROM ins GROUP BY reason
"""

# jobs $1 and their ancestors (not locked: their counters change by deltas at COMMIT)
WITH_ANCESTORS = f"""
WITH RECURSIVE a(id) AS (
    SELECT unnest($1::bigint[])
    UNION
    SELECT j.parent_id FROM jobs j JOIN a ON j.id = a.id WHERE j.parent_id IS NOT NULL
)
SELECT {STATE_COLUMNS} FROM jobs WHERE id = ANY(ARRAY(SELECT id FROM a))
"""

ANCESTOR_IDS = """
WITH RECURSIVE a(id) AS (
    SELECT parent_id FROM jobs WHERE id = ANY($1::bigint[]) AND parent_id IS NOT NULL
    UNION
    SELECT j.parent_id FROM jobs j JOIN a ON j.id = a.id WHERE j.parent_id IS NOT NULL
)
SELECT id FROM a
"""

# the pending and running jobs below each of $1 with their depth (a terminal job has
# none below it, so the walk stops at terminal jobs)
ACTIVE_BELOW = """
WITH RECURSIVE sub(id, parent_id, depth) AS (
    SELECT id, parent_id, depth FROM jobs WHERE id = ANY($1::bigint[])
    UNION
    SELECT j.id, j.parent_id, j.depth FROM jobs j JOIN sub ON j.parent_id = sub.id
    WHERE j.status IN ('pending', 'running')
)
SELECT id, parent_id, depth FROM sub
"""

SUBTREE_IDS = """
WITH RECURSIVE sub(id, depth) AS (
    SELECT $1::bigint, 0 UNION ALL
    SELECT j.id, sub.depth + 1 FROM jobs j JOIN sub ON j.parent_id = sub.id
)
SELECT j.id FROM sub JOIN jobs j USING (id)
WHERE sub.depth > 0 AND (cardinality($2::text[]) = 0 OR j.status = ANY($2::text[]))
  AND ($3::text IS NULL OR j.job_type = $3) AND ($4::text IS NULL OR j.error_group = $4)
ORDER BY sub.depth, j.id
"""

CHILD_IDS = """
SELECT id FROM jobs
WHERE parent_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2::text[]))
  AND ($3::text IS NULL OR job_type = $3) AND ($4::text IS NULL OR error_group = $4)
ORDER BY id
"""

ERROR_GROUPS = """
SELECT g.key, g.count, ARRAY(
           SELECT s FROM unnest(g.samples) WITH ORDINALITY AS t(s, o)
           WHERE EXISTS (SELECT 1 FROM jobs WHERE id = t.s AND status = 'failed') ORDER BY o
       ), g.last_seen
FROM job_error_groups g WHERE g.job_id = $1 ORDER BY g.count DESC, g.key LIMIT $2
"""

RECOUNT_DESCENDANTS = """
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
SELECT p.id, p.desc_total, p.desc_pending, p.desc_running, p.desc_completed, p.desc_failed,
       p.desc_cancelled, COALESCE(s.t, 0), COALESCE(s.p, 0), COALESCE(s.r, 0),
       COALESCE(s.c, 0), COALESCE(s.f, 0), COALESCE(s.x, 0)
FROM jobs p LEFT JOIN s ON s.id = p.id
WHERE p.desc_total != COALESCE(s.t, 0) OR p.desc_pending != COALESCE(s.p, 0)
   OR p.desc_running != COALESCE(s.r, 0) OR p.desc_completed != COALESCE(s.c, 0)
   OR p.desc_failed != COALESCE(s.f, 0) OR p.desc_cancelled != COALESCE(s.x, 0)
ORDER BY p.id
"""

RECORD_BROKEN_LINK = """
INSERT INTO job_broken_links (job_id, url, status, referrers) VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT DO NOTHING RETURNING 1
"""

RECORD_ALIASES = """
WITH ins AS (
    INSERT INTO document_aliases (job_id, url, target, reason)
    SELECT $1, s.url, s.target, $4 FROM unnest($2::text[], $3::text[]) AS s(url, target)
    ORDER BY s.url
    ON CONFLICT DO NOTHING RETURNING 1
)
SELECT count(*) FROM ins
"""

#: a crawl's page children under some dedupe keys, with their depth (lower_page_depths)
PAGE_DEPTHS = """
SELECT id, dedupe_key, status,
       CASE WHEN jsonb_typeof(config -> 'depth') = 'number'
            THEN (config ->> 'depth')::numeric::bigint END
FROM jobs WHERE parent_id = $1 AND dedupe_key = ANY($2::text[])
"""

#: the new depths of pending pages (and of running ones in ``$3``), re-checked under the
#: row locks (taken in id order, as everywhere): a page claimed by another process since
#: PAGE_DEPTHS is left as it is
SET_PAGE_DEPTHS = """
WITH locked AS (SELECT id FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)
UPDATE jobs j SET config = jsonb_set(j.config, '{depth}', to_jsonb(u.depth))
FROM unnest($1::bigint[], $2::bigint[]) AS u(id, depth), locked
WHERE j.id = u.id AND locked.id = u.id
  AND (j.status = 'pending' OR (j.status = 'running' AND j.id = ANY($3::bigint[])))
RETURNING j.id
"""

#: the status lines a job row stands for (migration 0016): the same SQL on both backends
RUN_LINES = STATUS_RUN_LINES
END_LINES = STATUS_END_LINES
