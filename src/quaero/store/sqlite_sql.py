"""Named SQL of the SQLite backend (``{ids}``/``{types}`` are lists of ``?`` marks)."""

from .rows import STATUS_END_LINES, STATUS_RUN_LINES

JOB_COLUMNS = (
    "id, parent_id, root_id, depth, job_type, name, config, metadata, status, attempts,"
    " max_attempts, lease_owner, lease_expires_at, heartbeat_at, available_at, created_at,"
    " started_at, completed_at, error, result, result_count, progress, waiting, dedupe_key,"
    " progress_logged_at, child_total, child_pending, child_running, child_completed,"
    " child_failed, child_cancelled, error_group, desc_total, desc_pending, desc_running,"
    " desc_completed, desc_failed, desc_cancelled, progress_samples"
)

COUNTER_NAMES = ("total", "pending", "running", "completed", "failed", "cancelled")

SELECT_JOBS_BY_IDS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({{ids}})"
#: a plan's loads: the job columns, then whether the row stands for its status lines
WRITE_COLUMNS = f"{JOB_COLUMNS}, run_log_id, end_log_id"
SELECT_JOBS_FOR_WRITE = f"SELECT {WRITE_COLUMNS} FROM jobs WHERE id IN ({{ids}})"

INSERT_JOB = """
INSERT INTO jobs (id, parent_id, root_id, depth, job_type, name, config, metadata, status,
                  max_attempts, available_at, created_at, dedupe_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

UPDATE_JOB_STATE = """
UPDATE jobs SET status = ?, attempts = ?, lease_owner = ?, lease_expires_at = ?,
    heartbeat_at = ?, available_at = ?, started_at = ?, completed_at = ?, error = ?,
    result = COALESCE(?, result), waiting = ?, progress_logged_at = ?, child_total = ?, child_pending = ?,
    child_running = ?, child_completed = ?, child_failed = ?, child_cancelled = ?,
    error_group = ?, desc_total = ?, desc_pending = ?, desc_running = ?, desc_completed = ?,
    desc_failed = ?, desc_cancelled = ?, progress_samples = ?
WHERE id = ?
"""

INSERT_LOG = "INSERT INTO job_logs (job_id, root_id, ts, level, message) VALUES (?, ?, ?, ?, ?)"
INSERT_LOG_WITH_ID = (
    "INSERT INTO job_logs (id, job_id, root_id, ts, level, message) VALUES (?, ?, ?, ?, ?, ?)"
)
INSERT_LOG_ROWS = "INSERT INTO job_logs (id, job_id, root_id, ts, level, message) "

#: the status lines a job row stands for (see SqliteStore._write_logs): shared SQL
RUN_LINES = STATUS_RUN_LINES
END_LINES = STATUS_END_LINES

#: one arm of :func:`claim_candidates` per job type: its first due pending jobs in due
#: order (an index range scan of jobs_due that stops at the limit)
_CLAIM_ARM = """SELECT * FROM (SELECT id FROM jobs INDEXED BY jobs_due
WHERE status = 'pending' AND job_type = ? AND available_at <= ?
ORDER BY available_at, id LIMIT ?)"""
_CLAIM_SQL: dict[int, str] = {}


def claim_candidates(types: int) -> str:
    """Up to ``limit`` due pending jobs of ``types`` job types, in due order (available_at,
    then id). Parameters: ``(type, now, limit)`` for each type, then ``limit``. Pending
    jobs of other types and retries not due yet are never scanned (migration 0013)."""
    sql = _CLAIM_SQL.get(types)
    if sql is None:
        arms = " UNION ALL ".join([_CLAIM_ARM] * types)
        sql = _CLAIM_SQL[types] = (
            f"SELECT {WRITE_COLUMNS} FROM jobs WHERE id IN ({arms})"
            " ORDER BY available_at, id LIMIT ?"
        )
    return sql


HEARTBEAT = """
UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?
WHERE lease_owner = ? AND status = 'running' AND id IN ({ids})
"""

HELD = "SELECT id FROM jobs WHERE lease_owner = ? AND status = 'running' AND id IN ({ids})"

EXPIRED = """
SELECT id FROM jobs INDEXED BY jobs_lease
WHERE lease_owner IS NOT NULL AND lease_expires_at < ? AND status = 'running'
ORDER BY lease_expires_at LIMIT ?
"""

# the pending and running jobs below $1 (a terminal job has none below it, so the walk
# stops at terminal jobs), parents before children
ACTIVE_BELOW = """
WITH RECURSIVE sub(id, depth) AS (
    SELECT ?, 0 UNION ALL
    SELECT j.id, sub.depth + 1 FROM jobs j JOIN sub ON j.parent_id = sub.id
    WHERE j.status IN ('pending', 'running')
)
SELECT id FROM sub WHERE depth > 0 ORDER BY depth, id
"""

ERROR_GROUPS_OF = (
    "SELECT job_id, key, count, samples, last_seen FROM job_error_groups WHERE job_id IN ({ids})"
)

SUBTREE = """
WITH RECURSIVE sub(id) AS (
    SELECT ? UNION ALL SELECT j.id FROM jobs j JOIN sub ON j.parent_id = sub.id
)
SELECT id FROM sub
"""

COUNT_ACTIVE_IN = (
    "SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running') AND id IN ({ids})"
)

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
           SUM(status = 'pending') AS pending,
           SUM(status = 'running') AS running,
           SUM(status = 'completed') AS completed,
           SUM(status = 'failed') AS failed,
           SUM(status = 'cancelled') AS cancelled
    FROM jobs WHERE parent_id IS NOT NULL GROUP BY parent_id
) c ON c.parent_id = p.id
WHERE p.child_total != COALESCE(c.total, 0)
   OR p.child_pending != COALESCE(c.pending, 0)
   OR p.child_running != COALESCE(c.running, 0)
   OR p.child_completed != COALESCE(c.completed, 0)
   OR p.child_failed != COALESCE(c.failed, 0)
   OR p.child_cancelled != COALESCE(c.cancelled, 0)
"""

ADD_JOB_STAT = """
INSERT INTO job_stats (job_id, name, value) VALUES (?, ?, ?)
ON CONFLICT (job_id, name) DO UPDATE SET value = value + excluded.value
"""

JOB_STATS_FOR = "SELECT job_id, name, value FROM job_stats WHERE job_id IN ({ids})"

CHILDREN_PRUNED_FOR = (
    "SELECT job_id, pruned_at FROM job_prunes WHERE children_only = 1 AND job_id IN ({ids})"
)

INSERT_SKIP = "INSERT OR IGNORE INTO job_skips (job_id, url, reason) VALUES (?, ?, ?)"

# every job's descendants counters against a recount of its subtree (db check)
RECOUNT_DESCENDANTS = """
WITH RECURSIVE anc(a, d) AS (
    SELECT parent_id, id FROM jobs WHERE parent_id IS NOT NULL
    UNION ALL
    SELECT j.parent_id, anc.d FROM anc JOIN jobs j ON j.id = anc.a WHERE j.parent_id IS NOT NULL
), s AS (
    SELECT anc.a AS id, COUNT(*) AS t, SUM(j.status = 'pending') AS p,
           SUM(j.status = 'running') AS r, SUM(j.status = 'completed') AS c,
           SUM(j.status = 'failed') AS f, SUM(j.status = 'cancelled') AS x
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

# a subtree's jobs, parents before children (bulk actions with "subtree")
SUBTREE_ORDERED = """
WITH RECURSIVE sub(id, depth) AS (
    SELECT ?, 0 UNION ALL
    SELECT j.id, sub.depth + 1 FROM jobs j JOIN sub ON j.parent_id = sub.id
)
SELECT jobs.id FROM sub JOIN jobs USING (id) WHERE sub.depth > 0 {where}
ORDER BY sub.depth, jobs.id
"""

#: a crawl's page children under some dedupe keys, with their depth (lower_page_depths)
PAGE_DEPTHS = (
    "SELECT id, dedupe_key, status, json_extract(config, '$.depth') FROM jobs"
    " WHERE parent_id = ? AND dedupe_key IN ({keys})"
)
SET_PAGE_DEPTH = "UPDATE jobs SET config = json_set(config, '$.depth', ?) WHERE id = ?"
