-- Crawl politeness shared by every process on this database, per host:
-- next_slot: where the next reservation starts (orders the waiting fetches);
-- free_at: the earliest a request may start (the last request's end + the delay, or a
-- Retry-After); holder/held_until: the one request in flight (a lease, so a crashed
-- worker frees the host when it expires). Times are the database's clock, so worker
-- machines' clocks do not matter.
CREATE TABLE crawl_hosts (
    host        text PRIMARY KEY,
    next_slot   timestamptz NOT NULL DEFAULT '-infinity',
    free_at     timestamptz NOT NULL DEFAULT '-infinity',
    holder      text,
    held_until  timestamptz NOT NULL DEFAULT '-infinity'
);
