"""The store interface: every persistence operation quaero needs, as one small ABC.

Callers (the manager, workers, the web app, the CLI) only see :class:`Store`. Each backend
(``sqlite.py``, ``postgres.py``) implements it; the rules of a status change live in
:mod:`quaero.jobs.planner` and are shared. :func:`open_store` picks the backend by URL.
"""

from __future__ import annotations

import abc
import inspect
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..bounds import (
    check_id,
    check_int,
    check_json_ints,
    clean_text,
    guard_store_method,
    has_nul,
)
from ..documents.models import Document, NewDocument, SearchPage
from ..errors import InvalidArgument, InvalidJobSpec, StoreError
from ..events.types import Event
from ..jobs.explain import ChildFacts
from ..jobs.models import Job, JobStatus, NewJob, SpawnResult, StatusChange
from ..jobs.planner import ChangeResult, TreeLimits
from ..jobs.worker_registry import WorkerInfo

__all__ = [
    "JOB_ORDER_KEYS",
    "MAX_DELAY",
    "MAX_REFERRERS",
    "PER_JOB_TABLES",
    "ChildFilter",
    "Drift",
    "ErrorGroup",
    "JobQuery",
    "LogEntry",
    "LogQuery",
    "Page",
    "PruneMark",
    "PruneStep",
    "Store",
    "apply_prune_marks",
    "depth_key",
    "metadata_filter",
    "open_store",
]

#: the only keys a job listing may be ordered by (never interpolated from user input)
JOB_ORDER_KEYS: dict[str, str] = {
    "id": "id",
    "created_at": "created_at",
    "started_at": "started_at",
    "completed_at": "completed_at",
    "name": "name",
    "status": "status",
    "job_type": "job_type",
    "result_count": "result_count",
}

LOG_LEVELS = ("debug", "info", "warning", "error")
#: referrers kept per broken link
MAX_REFERRERS = 20


@dataclass(slots=True)
class JobQuery:
    """Filters, ordering and paging of a job listing."""

    statuses: Collection[JobStatus] = ()
    job_type: str | None = None
    #: ``"root"`` for top-level jobs, an id for that job's children, None for all jobs
    parent_id: int | str | None = None
    text: str | None = None
    #: failed jobs whose error group key is exactly this (see ``quaero.jobs.error_groups``)
    error_group: str | None = None
    #: jobs whose metadata holds each of these keys with exactly this (scalar) value,
    #: e.g. ``{"definition": "nightly"}``; keys are ``[A-Za-z0-9_]+``
    metadata: Mapping[str, str | int | bool] | None = None
    limit: int = 50
    offset: int = 0
    order_by: str = "id"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.parent_id != "root" and self.parent_id is not None:
            if isinstance(self.parent_id, str):
                raise InvalidArgument(
                    f"parent_id must be 'root' or a job id, got {self.parent_id!r}"
                )
            check_id(self.parent_id, "parent_id")
        check_int(self.limit, "limit", 1)
        check_int(self.offset, "offset")
        _no_nul(self.job_type, self.text, self.error_group)


def _no_nul(*values: str | None) -> None:
    """Filters are compared with stored text, which never holds NUL (PostgreSQL cannot
    even take one as a parameter): refuse it as bad input."""
    if any(v is not None and "\x00" in v for v in values):
        raise InvalidArgument("filters must not contain NUL characters")


@dataclass(slots=True)
class ChildFilter:
    """Which jobs below a job a bulk action takes: its direct children (every descendant
    with ``subtree``) matching every given filter (the children listing's filters)."""

    statuses: Collection[JobStatus] = ()
    job_type: str | None = None
    error_group: str | None = None
    subtree: bool = False

    def __post_init__(self) -> None:
        _no_nul(self.job_type, self.error_group)


@dataclass(slots=True)
class ErrorGroup:
    """Failed descendants of a job sharing one error key: how many, a few recent ids
    (that still exist), and when the latest failed (epoch seconds)."""

    key: str
    count: int
    sample_job_ids: list[int]
    last_seen: float

    def to_dict(self) -> dict[str, Any]:
        from ..jobs.models import iso

        return {
            "key": self.key,
            "count": self.count,
            "sample_job_ids": self.sample_job_ids,
            "last_seen": iso(self.last_seen),
        }


@dataclass(slots=True)
class Page:
    items: list[Any]
    total: int


@dataclass(slots=True)
class LogEntry:
    """A job log line (``id`` is assigned by the store)."""

    job_id: int
    level: str
    message: str
    timestamp: float
    id: int = 0
    root_id: int = 0

    def __post_init__(self) -> None:
        self.message = clean_text(self.message)

    def to_dict(self) -> dict[str, Any]:
        from ..jobs.models import iso

        return {
            "id": self.id,
            "job_id": self.job_id,
            "timestamp": iso(self.timestamp),
            "level": self.level,
            "message": self.message,
        }


def check_specs(specs: Sequence[NewJob]) -> None:
    """Refuse (before any write) job specs that cannot be stored: an empty type, a
    parent id or ``max_attempts`` out of range, an integer in the config or metadata
    that does not fit 64 bits (InvalidJobSpec, a 422 in the API)."""
    for spec in specs:
        if not spec.job_type:
            raise InvalidJobSpec("job_type must not be empty")
        try:
            if spec.parent_id is not None:
                check_id(spec.parent_id, "parent_id")
            if spec.max_attempts is not None:
                check_int(spec.max_attempts, "max_attempts", 1, 2**31 - 1)
            check_json_ints(spec.config, "config")
            check_json_ints(spec.metadata, "metadata")
        except InvalidArgument as exc:
            raise InvalidJobSpec(str(exc)) from None
        for what, value in (
            ("job_type", spec.job_type),
            ("name", spec.name),
            ("dedupe_key", spec.dedupe_key or ""),
            ("config", spec.config),
            ("metadata", spec.metadata),
        ):
            if has_nul(value):
                raise InvalidJobSpec(f"{what} must not contain NUL characters")
        if not 0 <= spec.delay <= MAX_DELAY:
            raise InvalidJobSpec(f"delay must be between 0 and {MAX_DELAY:g} seconds")


#: the longest a new job may wait before it can be claimed (100 years, in seconds)
MAX_DELAY = 100 * 365.25 * 86400


def check_log_levels(entries: Sequence[LogEntry]) -> None:
    """Refuse (before any write) log lines whose level is not one of LOG_LEVELS."""
    for e in entries:
        if e.level not in LOG_LEVELS:
            raise InvalidJobSpec(
                f"unknown log level {e.level!r}; use one of {', '.join(LOG_LEVELS)}"
            )


@dataclass(slots=True)
class LogQuery:
    """Log listing: ``aggregated`` merges the job's descendants in time order.

    ``cursor`` is the last log id seen (exclusive), in the direction of ``descending``.
    """

    job_id: int
    min_level: str | None = None
    descending: bool = False
    limit: int = 100
    cursor: int | None = None
    aggregated: bool = False

    def __post_init__(self) -> None:
        check_id(self.job_id)
        check_int(self.limit, "limit", 1)
        if self.cursor is not None:
            check_int(self.cursor, "cursor")


@dataclass(slots=True)
class Drift:
    """A parent whose stored counters differ from a recount of its children's rows, or
    (``pruned``) from the summary kept when its children were pruned."""

    job_id: int
    stored: dict[str, int]
    actual: dict[str, int]
    #: ``"children"`` (direct children) or ``"descendants"`` (the whole subtree)
    kind: str = "children"
    #: the children were pruned: ``actual`` is the summary kept at that time
    pruned: bool = False


@dataclass(slots=True)
class PruneMark:
    """A parent whose children are pruned (``children_only``), or a top-level tree being
    pruned whole. ``summary`` is the parent's counters when the pruning began: they are
    never decremented by a prune, so they must still equal it."""

    job_id: int
    pruned_at: float
    children_only: bool
    summary: dict[str, int]


@dataclass(slots=True)
class PruneStep:
    """What one bounded prune transaction did."""

    #: job rows deleted (with their logs, stats and skips)
    jobs: int = 0
    #: log rows deleted
    logs: int = 0
    #: nothing is left to delete: the tree is gone, or the parent keeps only its summary
    done: bool = False


#: per-job tables whose rows go with their job when it is pruned (``job_id`` column;
#: a kept parent keeps its own error groups: part of its summary).
#: document_jobs is not one: documents and their crawl links outlive the crawl's jobs.
PER_JOB_TABLES = (
    "job_logs",
    "job_stats",
    "job_skips",
    "job_error_groups",
    "job_broken_links",
    "document_aliases",
)


def apply_prune_marks(
    drift: list[Drift],
    marks: Mapping[int, PruneMark],
    roots: Mapping[int, int],
    counters: Mapping[int, dict[str, int]],
) -> list[Drift]:
    """The ``db check`` verdict with pruning taken into account.

    A parent whose children were pruned is compared with its kept summary, never with a
    recount of rows that are gone; jobs of a tree being pruned whole (``roots`` maps a
    drifted job to its root) are skipped. ``counters`` holds the current counters of
    every marked job still present."""
    whole = {i for i, m in marks.items() if not m.children_only}
    out = [d for d in drift if d.job_id not in marks and roots.get(d.job_id, d.job_id) not in whole]
    for job_id, mark in sorted(marks.items()):
        now = counters.get(job_id)
        if mark.children_only and now is not None and now != mark.summary:
            out.append(Drift(job_id, now, dict(mark.summary), pruned=True))
    return sorted(out, key=lambda d: d.job_id)


class Store(abc.ABC):
    """Persistence for jobs, logs and events. All methods are coroutines.

    Every write is one transaction: it either fully happens or leaves nothing behind.
    ``on_commit`` is called on the event loop with the events of each committed
    transaction, in sequence order (the in-process fast path of the event feed).
    ``on_wake`` (optional) is called when another process committed events: a hint to
    read the log now rather than at the next poll (PostgreSQL ``LISTEN/NOTIFY``).
    """

    #: the SQL dialect name, for tests and messages
    dialect: str = ""
    #: :meth:`apply_and_claim` claims in the transaction of the changes (else it claims
    #: nothing and the worker's claim loop does)
    claims_with_changes: bool = False

    def __init__(
        self,
        url: str,
        *,
        on_commit: Callable[[list[Event]], None] | None = None,
        on_wake: Callable[[], None] | None = None,
        default_max_attempts: int = 3,
        tree_limits: TreeLimits | None = None,
    ) -> None:
        self.url = url
        self.on_commit = on_commit
        self.on_wake = on_wake
        self.default_max_attempts = default_max_attempts
        #: ``[jobs] max_depth`` and ``max_children_per_job``, enforced on every spawn
        self.tree_limits = tree_limits or TreeLimits()
        # every public coroutine refuses ids/offsets no column can hold
        # (bounds.ID_ARGUMENTS) before the driver sees them: one guard for all methods of
        # every backend, those added later included
        cls = type(self)
        for name in dir(cls):
            if not name.startswith("_") and inspect.iscoroutinefunction(
                inspect.getattr_static(cls, name)
            ):
                setattr(self, name, guard_store_method(getattr(self, name)))

    # --------------------------------------------------------------- lifecycle
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    # --------------------------------------------------------------- job writes
    async def create_jobs(self, specs: Sequence[NewJob]) -> list[Job]:
        """Insert jobs (children in bulk). Parents' ``total``/``pending`` grow in the same
        transaction. A spec whose ``dedupe_key`` is taken under its parent is skipped (not
        returned). Raises JobNotFound / JobStateError / InvalidJobSpec, creating nothing."""
        return (await self.spawn_children(specs)).created

    @abc.abstractmethod
    async def spawn_children(
        self, specs: Sequence[NewJob], max_children: int | None = None
    ) -> SpawnResult:
        """Like :meth:`create_jobs`, reporting duplicates, and creating no child that would
        make its parent's ``total`` exceed ``max_children`` (a budget enforced in the
        same transaction, so racing workers can never overshoot it)."""

    @abc.abstractmethod
    async def add_job_stats(self, job_id: int, deltas: dict[str, int]) -> None:
        """Add to named counters of a job (O(1); shown as ``stats`` on the job)."""

    @abc.abstractmethod
    async def record_skips(self, job_id: int, skips: Mapping[str, str]) -> dict[str, int]:
        """Record keys (URLs) the job skipped, ``{url: reason}``. Each key counts once per
        job: the ``skipped_<reason>`` stats grow by the keys new to the job, in the same
        transaction. Returns those increments."""

    @abc.abstractmethod
    async def list_skips(
        self, job_id: int, reason: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        """The keys (URLs) the job skipped, ordered by URL, optionally of one reason:
        items are ``{"url", "reason"}``."""

    @abc.abstractmethod
    async def record_broken_link(
        self, job_id: int, url: str, status: int, referrers: Sequence[str]
    ) -> bool:
        """Record a URL of the job (a crawl) that answered ``status`` (404, 410), once per
        job: the job's ``broken_links`` stat grows by one the first time, in the same
        transaction; a later call adds its referrers (pages linking to the URL; at most
        ``MAX_REFERRERS`` kept). Returns whether the URL was new to the job."""

    @abc.abstractmethod
    async def list_broken_links(self, job_id: int, limit: int = 50, offset: int = 0) -> Page:
        """The job's broken links ordered by URL: ``{"url", "status", "referrers"}``."""

    @abc.abstractmethod
    async def record_aliases(self, job_id: int, aliases: Mapping[str, str], reason: str) -> int:
        """Record other URLs (``{alias: document URL}``) the job found for its documents
        (``reason``: ``redirect``, ``canonical``, ``refresh``), once per job and URL; the
        job's ``aliases`` and ``aliases_<reason>`` stats grow by the new ones. Returns how
        many were new."""

    @abc.abstractmethod
    async def list_aliases(self, job_id: int, limit: int = 50, offset: int = 0) -> Page:
        """The job's aliases ordered by URL: ``{"url", "target", "reason"}``."""

    @abc.abstractmethod
    async def lower_page_depths(
        self, job_id: int, depths: Mapping[str, int], running_here: Collection[int] = ()
    ) -> list[str]:
        """Make a crawl's shorter link distances outlive the process that found them.

        ``job_id`` is the crawl; its page children are keyed by URL (``dedupe_key`` the
        URL, or :func:`depth_key` for a page spawned again at a smaller depth) with their
        depth in ``config["depth"]``. For each ``{url: depth}``, in one transaction:

        * a child of that URL already at ``depth`` or less: nothing to do;
        * else the child keyed by the URL is pending, or running with its id in
          ``running_here`` (the caller's process runs it and applies the depth itself):
          its ``config["depth"]`` becomes ``depth``, so whoever runs it uses it;
        * else (running elsewhere, or finished at the larger depth): the URL is returned,
          and the caller spawns it again under ``depth_key(url, depth)``.

        A URL with no child is left out (it was not created, e.g. over the page budget).
        Raises JobNotFound for an unknown crawl.
        """

    @abc.abstractmethod
    async def claim_jobs(
        self, owner: str, limit: int, lease_seconds: float, job_types: Collection[str]
    ) -> list[Job]:
        """Move up to ``limit`` due pending jobs of these types to running under a lease."""

    @abc.abstractmethod
    async def apply_changes(self, changes: Sequence[StatusChange]) -> list[ChangeResult]:
        """Apply status changes (each validated; refused ones change nothing)."""

    async def apply_and_claim(
        self,
        changes: Sequence[StatusChange],
        owner: str,
        limit: int,
        lease_seconds: float,
        job_types: Collection[str],
    ) -> tuple[list[ChangeResult], list[Job]]:
        """:meth:`apply_changes` and, in the SAME transaction, :meth:`claim_jobs` (up to
        ``limit``, which may be 0): a worker's flush that also refills its free slots with
        one commit instead of two (on PostgreSQL each commit waits for the parent row the
        commit hook updates). Returns the change results and the claimed jobs.

        This default applies only and claims nothing (the worker's claim loop claims): on
        SQLite the writer thread already commits a flush and a claim queued together as
        one transaction."""
        return (await self.apply_changes(changes) if changes else []), []

    @abc.abstractmethod
    async def heartbeat(
        self, owner: str, job_ids: Collection[int], lease_seconds: float
    ) -> set[int]:
        """Extend the leases ``owner`` holds; return the ids it still holds."""

    @abc.abstractmethod
    async def requeue_expired(self, limit: int = 1000) -> list[int]:
        """Jobs whose lease expired go back to pending (or failed after the last attempt)."""

    @abc.abstractmethod
    async def cancel_subtree(self, job_id: int, include_self: bool = True) -> int:
        """Cancel the job and every non-terminal descendant; returns how many changed."""

    @abc.abstractmethod
    async def cancel_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        """Cancel these jobs in one transaction (each with its active subtree, the
        failure rule); a job already finished is refused (JobStateError)."""

    @abc.abstractmethod
    async def retry_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        """Retry these failed or cancelled jobs in place in one transaction (terminal
        ancestors reopen); any other job is refused (JobStateError)."""

    @abc.abstractmethod
    async def delete_jobs(self, job_ids: Sequence[int]) -> list[ChangeResult]:
        """Delete these finished jobs with their subtrees in one transaction; a job with
        an active job in its tree is refused (JobStateError), one already gone is
        JobNotFound."""

    @abc.abstractmethod
    async def match_ids(self, job_id: int, f: ChildFilter) -> list[int]:
        """Ids of the jobs below ``job_id`` matching ``f``, parents before children
        (raises JobNotFound)."""

    @abc.abstractmethod
    async def error_groups(self, job_id: int, limit: int = 100) -> list[ErrorGroup]:
        """The job's failed descendants by error key, largest first: O(groups)."""

    @abc.abstractmethod
    async def delete_subtree(self, job_id: int) -> int:
        """Delete a terminal job with its subtree, logs included. Raises JobStateError for
        an active job."""

    @abc.abstractmethod
    async def add_logs(self, entries: Sequence[LogEntry], publish: bool = True) -> None:
        """Append job log lines (and ``log`` events when ``publish``)."""

    @abc.abstractmethod
    async def set_progress(self, job_id: int, progress: dict[str, Any]) -> None:
        """Record a leaf job's own progress and publish a ``job_progress`` event."""

    @abc.abstractmethod
    async def add_result_count(self, job_id: int, n: int) -> None: ...

    # --------------------------------------------------------------- job reads
    @abc.abstractmethod
    async def get_job(self, job_id: int) -> Job | None: ...

    @abc.abstractmethod
    async def list_jobs(self, query: JobQuery) -> Page: ...

    @abc.abstractmethod
    async def job_stats(self) -> dict[str, dict[str, int]]:
        """``{"top_level": {status: n, "total": n}, "all": {...}}``."""

    @abc.abstractmethod
    async def read_logs(self, query: LogQuery) -> list[LogEntry]: ...

    @abc.abstractmethod
    async def recount(self) -> list[Drift]:
        """Compare every parent's counters with a recount of its children."""

    # --------------------------------------------------------------- retention
    @abc.abstractmethod
    async def prunable_trees(
        self, before: Mapping[JobStatus, float], children_only: bool, limit: int = 100
    ) -> list[Job]:
        """Finished top-level jobs whose ``completed_at`` is before ``before[status]``
        (statuses not in ``before`` are kept), oldest first. ``children_only``: only
        those that still have children to prune. An index lookup, never a scan."""

    @abc.abstractmethod
    async def tree_size(self, job_id: int) -> int:
        """How many jobs the tree of top-level job ``job_id`` holds (itself included)."""

    @abc.abstractmethod
    async def tree_active(self, job_id: int) -> bool:
        """True if a job of the tree of ``job_id`` is pending or running (a read)."""

    @abc.abstractmethod
    async def prune_step(self, job_id: int, children_only: bool, limit: int = 500) -> PruneStep:
        """One small transaction of pruning the finished top-level tree ``job_id``.

        The first step marks the job (:class:`PruneMark`); each step deletes up to
        ``limit`` jobs of the tree below it with their per-job rows (PER_JOB_TABLES); the
        last one deletes the top-level job itself (a ``job_deleted`` event), unless
        ``children_only``, which keeps it with its counters untouched. Counters are never
        decremented (no planner bookkeeping: the parent's summary stays exact). Safe to
        run from several processes at once. Raises JobStateError for a job that is not a
        finished top-level job, JobNotFound when it is gone."""

    @abc.abstractmethod
    async def prune_marks(self) -> dict[int, PruneMark]:
        """Every parent whose children were pruned, and every tree being pruned."""

    @abc.abstractmethod
    async def vacuum(self, full: bool = False) -> int:
        """Give free space back to the file system: SQLite's incremental vacuum in
        bounded steps (``full``: ``VACUUM``, which also turns incremental auto-vacuum on
        for a database made before it); on PostgreSQL nothing (autovacuum) or, with
        ``full``, ``VACUUM (ANALYZE)`` of the job tables. Returns the bytes the database
        file shrank by (0 when unknown)."""

    @abc.abstractmethod
    async def delete_crawl_documents(self, crawl_id: int) -> tuple[int, int]:
        """Delete the documents saved by crawl ``crawl_id`` (whether or not its job still
        exists). A document another crawl also saved is kept and only unlinked from this
        one. Returns ``(deleted, unlinked)``."""

    @abc.abstractmethod
    async def has_active_workers(self, since: float) -> bool:
        """True if some lease was heartbeated after ``since`` (another worker is alive)."""

    # --------------------------------------------------------------- worker registry
    @abc.abstractmethod
    async def register_worker(self, worker: WorkerInfo) -> None:
        """Insert or update a worker's row (its heartbeat, running count, ...), and delete
        the rows of workers that expired more than ``FORGET_AFTER`` seconds ago."""

    @abc.abstractmethod
    async def unregister_worker(self, worker_id: str) -> None:
        """Delete a worker's row (a graceful stop); no error if there is none."""

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerInfo]:
        """Every registered worker, live or expired (not yet forgotten), oldest first."""

    # --------------------------------------------------------------- explain
    @abc.abstractmethod
    async def child_facts(self, parent_id: int, now: float) -> ChildFacts:
        """A parent's active children by index probes only (never a scan of its children):
        pending children by job type (a loose index scan, at most ``MAX_TYPES`` types),
        each with capped counts (``type_cap``) of all, not due at ``now`` and retries,
        and their earliest due times; and up to ``RUNNING_CAP`` running children."""

    # --------------------------------------------------------------- documents
    @abc.abstractmethod
    async def save_document(
        self, doc: NewDocument, job_id: int, root_id: int
    ) -> tuple[Document, bool]:
        """Upsert a document by URL for the crawl ``root_id`` (the job ``job_id`` fetched it).

        In one transaction: the document row and its search index, the crawl's document
        count (``result_count`` of the root, +1 only the first time this crawl saves this
        URL) and a ``document_saved`` event. Returns the document and whether it was new
        to this crawl."""

    @abc.abstractmethod
    async def patch_document_metadata(self, url: str, values: Mapping[str, Any]) -> bool:
        """Set top-level keys of the metadata of the document saved for ``url`` (e.g. a
        crawl's corrected ``depth``). Returns whether there was such a document."""

    @abc.abstractmethod
    async def get_document(
        self, document_id: int | None = None, url: str | None = None
    ) -> Document | None: ...

    @abc.abstractmethod
    async def search_documents(
        self, query: str, limit: int = 10, offset: int = 0, job_id: int | None = None
    ) -> SearchPage:
        """Ranked full-text search (titles weigh more than body text) with snippets.
        Raises InvalidJobSpec for a query with no searchable words."""

    @abc.abstractmethod
    async def list_documents(
        self, limit: int = 50, offset: int = 0, job_id: int | None = None
    ) -> Page:
        """Documents (without markdown bodies needed) newest first, optionally of one crawl."""

    # --------------------------------------------------------------- politeness
    # Per-host crawl politeness shared by every process on this store: one request to a
    # host in flight at a time, the next one at least a delay after it ended. Times are
    # the store's clock; every answer is a wait in seconds from now.
    @abc.abstractmethod
    async def reserve_host_slot(self, host: str, interval: float, lead: float = 0.0) -> float:
        """Take the next turn to ``host`` in line: its slot is the latest of the host's
        next slot, the earliest allowed start and ``now + lead``; the next slot moves
        ``interval`` past it. Returns the wait until the slot (``<= 0``: it has begun).
        A slot orders the callers; :meth:`acquire_host` is what admits a request."""

    @abc.abstractmethod
    async def acquire_host(self, host: str, token: str, hold: float, poll: float) -> float:
        """Start a request to ``host`` as ``token`` if no other request holds the host
        and its earliest allowed start has passed: returns 0 and holds the host for up
        to ``hold`` seconds (a lease). Otherwise returns how long to wait before asking
        again (at most ``poll`` while another request holds the host)."""

    @abc.abstractmethod
    async def renew_host(self, host: str, token: str, hold: float) -> bool:
        """``token``'s request is still in flight: hold ``host`` until ``hold`` seconds
        from now (a heartbeat of the lease :meth:`acquire_host` took, never shortening
        it). Returns False if ``token`` does not hold the host any more."""

    @abc.abstractmethod
    async def release_host(self, host: str, token: str, interval: float) -> None:
        """``token``'s request ended: free the host and allow the next request to start
        ``interval`` seconds from now. No-op if ``token`` does not hold it."""

    @abc.abstractmethod
    async def defer_host(self, host: str, seconds: float) -> None:
        """Let no request to ``host`` start in the next ``seconds`` (Retry-After)."""

    # --------------------------------------------------------------- events
    @abc.abstractmethod
    async def read_events(
        self,
        after_seq: int,
        limit: int = 1000,
        types: Collection[str] = (),
        job_ids: Collection[int] = (),
        until_seq: int | None = None,
    ) -> list[Event]:
        """Committed events with ``seq > after_seq`` (and ``<= until_seq``), in order."""

    @abc.abstractmethod
    async def event_bounds(self) -> tuple[int, int]:
        """``(first_seq, last_seq)`` of the retained log; ``(0, 0)`` when empty."""

    @abc.abstractmethod
    async def prune_events(self, older_than: float) -> int: ...


def metadata_filter(query: JobQuery) -> list[tuple[str, str | int | bool]]:
    """The checked ``(key, value)`` pairs of ``query.metadata`` (for backends to turn into
    SQL: keys are safe to put in a JSON path). Raises InvalidJobSpec for a bad one."""
    out: list[tuple[str, str | int | bool]] = []
    for key, value in (query.metadata or {}).items():
        if not _METADATA_KEY.fullmatch(key):
            raise InvalidJobSpec(f"metadata filter key {key!r} must match [A-Za-z0-9_]+")
        if not isinstance(value, str | int):  # bool is an int
            raise InvalidJobSpec(f"metadata filter {key!r} must be a string or an integer")
        out.append((key, value))
    return out


_METADATA_KEY = re.compile(r"[A-Za-z0-9_]+")


def open_store(url: str, **kwargs: Any) -> Store:
    """Pick the backend by URL: ``sqlite:///path``, a bare path, or ``postgresql://``.
    Raises StoreError for a URL that names no store (nothing is created)."""
    from ..config import check_store_url
    from ..errors import ConfigError

    try:
        check_store_url(url)
    except ConfigError as exc:
        raise StoreError(str(exc)) from None
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - depends on install
            raise StoreError(f"PostgreSQL backend unavailable: {exc}") from exc
        store: Store = PostgresStore(url, **kwargs)
        return store
    if url.startswith("sqlite://") or "://" not in url:
        from .sqlite import SqliteStore

        return SqliteStore(url, **kwargs)
    raise StoreError(f"unsupported store URL {url!r} (use sqlite:///path or postgresql://...)")


def depth_key(url: str, depth: int) -> str:
    """The ``dedupe_key`` of a crawl page spawned again at a smaller ``depth`` than its
    first job (see :meth:`Store.lower_page_depths`). A normalised URL holds no space, so
    it cannot be mistaken for another page's URL."""
    return f"{url} depth={depth}"


def page_keys(depths: Mapping[str, int]) -> list[str]:
    """Every ``dedupe_key`` that may hold a page of ``depths`` at its depth or less."""
    keys: list[str] = []
    for url, depth in depths.items():
        keys.append(url)
        keys.extend(depth_key(url, d) for d in range(depth + 1))
    return keys


def plan_page_depths(
    depths: Mapping[str, int],
    rows: Sequence[tuple[int, str, str, Any]],
    running_here: Collection[int],
) -> tuple[dict[int, int], list[str]]:
    """The decisions of :meth:`Store.lower_page_depths` from the children found under
    :func:`page_keys` (``(id, dedupe_key, status, depth)``): ``({job id: new depth}``
    to set in place, URLs to spawn again)."""
    by_url: dict[str, list[tuple[int, str, str, Any]]] = {}
    for row in rows:
        by_url.setdefault(row[1].split(" ", 1)[0], []).append(row)
    updates: dict[int, int] = {}
    again: list[str] = []
    for url, depth in sorted(depths.items()):
        found = by_url.get(url, [])
        if any(isinstance(r[3], int) and r[3] <= depth for r in found):
            continue
        first = next((r for r in found if r[1] == url), None)
        if first is None:
            continue
        if first[2] == "pending" or (first[2] == "running" and first[0] in running_here):
            updates[first[0]] = depth
        else:
            again.append(url)
    return updates, again
