"""Storage: one interface (:class:`Store`), one module per backend."""

from .base import Drift, JobQuery, LogEntry, LogQuery, Page, Store, open_store

__all__ = ["Drift", "JobQuery", "LogEntry", "LogQuery", "Page", "Store", "open_store"]
