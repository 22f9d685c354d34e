"""Prometheus metrics of one web process (its own registry, so several apps can coexist).

- ``quaero_jobs{scope,status}``: jobs by status (top-level / all), read at scrape time;
- ``quaero_events_total{type}``, ``quaero_job_status_changes_total{status}``: counters,
  plus ``quaero_events_per_second`` / ``quaero_status_changes_per_second`` over 10 s;
- ``quaero_websocket_clients``, ``quaero_websocket_messages_total``,
  ``quaero_websocket_resyncs_total``;
- ``quaero_claim_seconds`` (the claim transaction) and ``quaero_claim_wait_seconds``
  (a job's wait from due to claimed), for workers running in this process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..events.types import JOB_STATUS_CHANGE, Event
from ..jobs.models import Job

__all__ = ["RateWindow", "WebMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)


class RateWindow:
    """Events per second over the last ``seconds`` whole seconds (O(1) per add)."""

    def __init__(self, seconds: int = 10) -> None:
        self.seconds = seconds
        self._counts = [0] * seconds
        self._stamps = [0] * seconds

    def add(self, n: int = 1, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        i = second % self.seconds
        if self._stamps[i] != second:
            self._stamps[i] = second
            self._counts[i] = 0
        self._counts[i] += n

    def rate(self, now: float | None = None) -> float:
        second = int(time.monotonic() if now is None else now)
        # the current second is incomplete: average over the previous full seconds
        total = sum(
            c
            for c, s in zip(self._counts, self._stamps, strict=True)
            if second - self.seconds < s < second
        )
        return total / (self.seconds - 1)


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Gauge("quaero_jobs", "Jobs by status", ["scope", "status"], registry=r)
        self.events = Counter("quaero_events", "Events seen by this process", ["type"], registry=r)
        self.status_changes = Counter(
            "quaero_job_status_changes", "Job status changes", ["status"], registry=r
        )
        self.events_rate = Gauge(
            "quaero_events_per_second", "Events per second over the last 10 s", registry=r
        )
        self.changes_rate = Gauge(
            "quaero_status_changes_per_second",
            "Job status changes per second over the last 10 s",
            registry=r,
        )
        self.ws_clients = Gauge("quaero_websocket_clients", "Open WebSocket clients", registry=r)
        self.ws_messages = Counter(
            "quaero_websocket_messages", "Messages sent to WebSocket clients", registry=r
        )
        self.ws_resyncs = Counter(
            "quaero_websocket_resyncs",
            "Snapshots sent because a client fell behind or resumed too late",
            ["reason"],
            registry=r,
        )
        self.claim_seconds = Histogram(
            "quaero_claim_seconds",
            "Duration of one claim transaction",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.claim_wait = Histogram(
            "quaero_claim_wait_seconds",
            "Time from a job being due to a worker claiming it",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self._by_type: dict[str, Counter] = {}
        self._by_status: dict[str, Counter] = {}
        self._events_window = RateWindow()
        self._changes_window = RateWindow()

    def on_event(self, e: Event) -> None:
        counter = self._by_type.get(e.type)
        if counter is None:
            counter = self._by_type[e.type] = self.events.labels(e.type)
        counter.inc()
        self._events_window.add()
        if e.type == JOB_STATUS_CHANGE:
            status = str(e.payload.get("status"))
            counter = self._by_status.get(status)
            if counter is None:
                counter = self._by_status[status] = self.status_changes.labels(status)
            counter.inc()
            self._changes_window.add()

    def on_claim(self, seconds: float, jobs: Sequence[Job]) -> None:
        self.claim_seconds.observe(seconds)
        now = time.time()
        for job in jobs:
            self.claim_wait.observe(max(0.0, now - max(job.available_at, job.created_at)))

    def render(self, stats: dict[str, dict[str, int]]) -> bytes:
        for scope, counts in stats.items():
            for status, n in counts.items():
                if status != "total":
                    self.jobs.labels(scope, status).set(n)
        self.events_rate.set(self._events_window.rate())
        self.changes_rate.set(self._changes_window.rate())
        return generate_latest(self.registry)
