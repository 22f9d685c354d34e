-- Crawl politeness shared by every process on this store, per host (epoch seconds):
-- next_slot: where the next reservation starts (orders the waiting fetches);
-- free_at: the earliest a request may start (the last request's end + the delay, or a
-- Retry-After); holder/held_until: the one request in flight (a lease, so a crashed
-- process frees the host when it expires).
CREATE TABLE crawl_hosts (
    host        TEXT PRIMARY KEY,
    next_slot   REAL NOT NULL DEFAULT 0,
    free_at     REAL NOT NULL DEFAULT 0,
    holder      TEXT,
    held_until  REAL NOT NULL DEFAULT 0
) WITHOUT ROWID
