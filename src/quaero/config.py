"""Settings: a TOML file, then ``QUAERO_*`` environment variables, then CLI flags.

Environment variables are named ``QUAERO_<SECTION>_<KEY>`` (``QUAERO_WORKER_CONCURRENCY``),
plus the short forms ``QUAERO_DB_URL``, ``QUAERO_API_TOKEN`` and ``QUAERO_CONFIG`` (the
file). Every value is checked; a bad one raises :class:`ConfigError` naming where it came
from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bounds import MAX_INT, MIN_INT
from .errors import ConfigError

__all__ = ["RetentionSettings", "Settings", "check_store_url", "load_settings", "parse_duration"]

DEFAULT_DB_URL = "sqlite:///./data/quaero.db"
#: values of ``[crawler] private_networks``
PRIVATE_NETWORK_POLICIES = ("never", "per-crawl")

#: the most worker processes one ``quaero worker`` supervises
MAX_PROCESSES = 256
#: what :func:`parse_prefetch` returns for a value that is neither "auto" nor 0-10000
PREFETCH_INVALID = -1


def parse_prefetch(value: str | int) -> int | None:
    """``worker.prefetch`` as the worker takes it: None for "auto", else the number of
    jobs to claim ahead (:data:`PREFETCH_INVALID` for anything else)."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text.isdigit() and int(text) <= 10_000:
        return int(text)
    return PREFETCH_INVALID


@dataclass
class StoreSettings:
    #: ``sqlite:///path`` (embedded default) or ``postgresql://user@host/db``
    url: str = DEFAULT_DB_URL


@dataclass
class WorkerSettings:
    concurrency: int = 16
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    shutdown_timeout: float = 10.0
    #: jobs a worker claims ahead of its free slots (leased to it, started the moment a
    #: slot frees, so no slot waits for a claim's round trip): 0 (the default: a killed
    #: worker would use up an attempt of each job it held ahead), a number, or "auto"
    #: to claim ahead only while its jobs run shorter than 50 ms
    prefetch: str = "0"
    #: worker processes ``quaero worker`` runs on this machine, each with ``concurrency``
    #: slots, kept running by a supervisor (0: one per CPU; see ``cli/supervisor.py``)
    processes: int = 1


@dataclass
class EventSettings:
    #: events older than this are pruned from the log
    retention_hours: float = 24.0
    #: how often a process looks for events committed by other processes
    poll_interval: float = 0.25


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    api_token: str = ""
    #: run the worker pool inside the web process
    workers: bool = True
    #: other origins (``https://dash.example``) allowed to send state-changing requests
    #: and open the WebSocket; the server's own origin always is; ``*`` allows any
    allowed_origins: list[str] = field(default_factory=list)
    #: host names requests may address (``Host``: DNS-rebinding defence); empty = the
    #: bound host plus localhost, 127.0.0.1 and [::1]; ``*`` allows any
    allowed_hosts: list[str] = field(default_factory=list)
    max_body_bytes: int = 1_000_000


@dataclass
class WebSocketSettings:
    #: event types forwarded to clients; empty = all
    allowed_events: list[str] = field(default_factory=list)
    #: per event type: at most one message per job per this many seconds (latest counts)
    throttle_intervals: dict[str, float] = field(
        default_factory=lambda: {"parent_job_progress": 0.1}
    )
    #: messages queued for one client before it is told to resync
    client_queue: int = 2000
    ping_interval: float = 20.0


@dataclass
class JobsSettings:
    definitions_dir: str = "./jobs"
    #: start definitions on their ``schedule`` (a task in the ``quaero serve`` process)
    scheduler: bool = True
    #: the deepest a job tree may grow (top-level jobs are depth 0); deeper spawns fail
    max_depth: int = 64
    #: the most children one job may have; a spawn beyond it fails
    max_children_per_job: int = 10_000_000
    #: job types that only worker processes of another program register: jobs of these
    #: types may be created here (their configs are not checked here)
    external_types: list[str] = field(default_factory=list)
    #: accept jobs of any type, registered or not (off: an unknown type is refused)
    allow_unregistered_types: bool = False


@dataclass
class RetentionSettings:
    """How long finished top-level job trees are kept (``"7d"``, ``"12h"``, ``"0"``/``"never"``).

    A tree is pruned (jobs, logs, stats, skips; documents stay) once its top-level job has
    been finished that long, by its final status. ``children`` (optional) prunes only the
    children of finished top-level jobs after that long and keeps the parent's summary.
    """

    completed: str = "7d"
    failed: str = "30d"
    cancelled: str = "7d"
    children: str = "never"
    #: how often ``serve`` and ``worker`` look for trees to prune
    interval: str = "1m"

    def seconds(self, key: str) -> float | None:
        """The setting ``key`` in seconds; None for never."""
        return parse_duration(getattr(self, key))


@dataclass
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    events: EventSettings = field(default_factory=EventSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    #: free-form defaults for crawl jobs (validated by the crawler), plus
    #: ``private_networks = "never" | "per-crawl"``: may API callers set a crawl's
    #: ``allow_private_networks`` ("per-crawl", the default) or never
    crawler: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> Settings:
        _check(self.worker.concurrency >= 1, "worker.concurrency must be at least 1")
        _check(self.worker.concurrency <= 10_000, "worker.concurrency must be at most 10000")
        _check(self.worker.lease_seconds > 0, "worker.lease_seconds must be positive")
        _check(self.worker.poll_interval > 0, "worker.poll_interval must be positive")
        _check(self.worker.max_attempts >= 1, "worker.max_attempts must be at least 1")
        _check(self.worker.backoff_base >= 0, "worker.backoff_base must not be negative")
        _check(self.worker.backoff_max >= 0, "worker.backoff_max must not be negative")
        _check(self.worker.shutdown_timeout >= 0, "worker.shutdown_timeout must not be negative")
        _check(
            0 <= self.worker.processes <= MAX_PROCESSES,
            f"worker.processes must be between 0 (one per CPU) and {MAX_PROCESSES}",
        )
        _check(
            parse_prefetch(self.worker.prefetch) is not PREFETCH_INVALID,
            'worker.prefetch must be "auto" or a number from 0 to 10000',
        )
        _check(self.events.retention_hours > 0, "events.retention_hours must be positive")
        _check(self.events.poll_interval > 0, "events.poll_interval must be positive")
        _check(0 < self.server.port < 65536, "server.port must be between 1 and 65535")
        _check(self.websocket.client_queue >= 10, "websocket.client_queue must be at least 10")
        _check(1 <= self.jobs.max_depth <= 10_000, "jobs.max_depth must be between 1 and 10000")
        _check(
            1 <= self.jobs.max_children_per_job <= 2**53,
            "jobs.max_children_per_job must be between 1 and 2**53",
        )
        for name in self.jobs.external_types:
            _check(
                bool(name) and name.replace("_", "").replace("-", "").isalnum(),
                f"jobs.external_types: {name!r} is not a job type name (letters, digits, _ -)",
            )
        for k, v in self.websocket.throttle_intervals.items():
            _check(v >= 0, f"websocket.throttle_intervals.{k} must not be negative")
        for key in ("completed", "failed", "cancelled", "children", "interval"):
            value = getattr(self.retention, key)
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"retention.{key}: {exc}") from None
            _check(
                key != "interval" or (seconds is not None and seconds > 0),
                "retention.interval must be a positive duration (e.g. 1m)",
            )
        check_store_url(self.store.url)
        policy = self.crawler.get("private_networks", "per-crawl")
        _check(
            policy in PRIVATE_NETWORK_POLICIES,
            f'crawler.private_networks must be "never" or "per-crawl", got {policy!r}',
        )
        return self


def check_store_url(url: str) -> str:
    """``url`` if it names a store: ``sqlite:///path``, ``sqlite://:memory:``, a bare file
    path, or ``postgresql://...``; ConfigError with the reason otherwise (before anything
    is opened or created)."""
    hint = "use sqlite:///path/to/quaero.db or postgresql://user@host/db"
    if not url.strip():
        raise ConfigError(f"store URL is empty; {hint}")
    if any(ord(c) < 32 for c in url):
        raise ConfigError(f"store URL {url!r} holds control characters; {hint}")
    if url.startswith(("postgresql://", "postgres://")):
        if url.partition("://")[2].strip() in ("", "/"):
            raise ConfigError(f"store URL {url!r} names no database; {hint}")
        return url
    if url.startswith("sqlite:"):
        rest = url.removeprefix("sqlite://")
        path = rest[1:] if rest.startswith("/") else rest
        if not url.startswith("sqlite://") or not path.strip() or path.endswith("/"):
            raise ConfigError(f"store URL {url!r} names no SQLite file; {hint}")
        return url
    if "://" in url:
        raise ConfigError(f"unsupported store URL {url!r}; {hint}")
    # a bare path: refuse what is almost surely a mistyped URL rather than create a
    # file named like one (a Windows drive letter ``C:\...`` is a path)
    drive = len(url) > 2 and url[1] == ":" and url[0].isalpha() and url[2] in "\\/"
    if (":" in url and not drive) or url.endswith(("/", "\\")):
        raise ConfigError(f"store URL {url!r} is neither a file path nor a URL; {hint}")
    return url


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d|w)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | float) -> float | None:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"2w"``, ``"1.5h"`` as seconds; ``"0"``
    and ``"never"`` as None (never). A number alone is seconds. Raises ValueError.

    A strict parser of our own (one unit, no spaces): a general-purpose library would
    accept forms ("1 day, 2 hours", months) whose meaning a setting should not guess.
    """
    text = str(value).strip().lower()
    if text in ("never", "0", "0.0", "0s", "0m", "0h", "0d", "0w"):
        return None
    m = _DURATION.fullmatch(text)
    if m is None:
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError(
                f"invalid duration {value!r} (use e.g. 30s, 15m, 12h, 7d, 2w, or 0/never)"
            ) from None
        if not 0 < seconds < float("inf"):
            raise ValueError(f"invalid duration {value!r} (must be positive, or 0/never)")
        return seconds
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected true or false")
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("expected an integer")
            if isinstance(value, str) and len(value.strip()) > 25:
                raise ValueError("integer too large")
            try:
                n = int(value)
            except ValueError:
                raise ValueError("expected an integer") from None
            if not MIN_INT <= n <= MAX_INT:
                raise ValueError("integer out of the 64-bit range")
            return n
        if tp is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            try:
                f = float(value)
            except ValueError:
                raise ValueError("expected a number") from None
            if not math.isfinite(f):
                raise ValueError("expected a finite number")
            return f
        if tp is str:
            if not isinstance(value, str | int | float):
                raise ValueError("expected a string")
            return str(value)
        if origin is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise ValueError("expected a list")
            (item,) = typing.get_args(tp)
            return [_coerce(v, item, where) for v in value]
        if origin is dict:
            if isinstance(value, str):
                value = json.loads(value)
            if not isinstance(value, dict):
                raise ValueError("expected a table")
            _, vt = typing.get_args(tp)
            return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    except (ValueError, TypeError, OverflowError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: invalid value {value!r} ({exc})") from None
    return value


def _apply(
    settings: Settings,
    section: str,
    key: str,
    value: Any,
    where: str,
    origin: dict[str, str] | None = None,
) -> None:
    """Set ``section.key`` from ``value`` (coerced to the field's type), recording in
    ``origin`` where it came from (a file, a variable, "command line")."""
    if section == "crawler":
        if not isinstance(value, dict):
            settings.crawler[key] = value
        return
    sect = getattr(settings, section, None)
    if sect is None or not dataclasses.is_dataclass(sect):
        known = ", ".join(f.name for f in dataclasses.fields(settings))
        raise ConfigError(f"{where}: unknown section [{section}] (known: {known})")
    hints = typing.get_type_hints(type(sect))
    if key not in hints:
        known = ", ".join(hints)
        raise ConfigError(f"{where}: unknown key {section}.{key} (known: {known})")
    coerced = _coerce(value, hints[key], f"{where}: {section}.{key}")
    if origin is not None:
        origin[f"{section}.{key}"] = where
    if section == "retention":
        try:
            parse_duration(coerced)
        except ValueError as exc:
            raise ConfigError(f"{where}: retention.{key}: {exc}") from None
    setattr(sect, key, coerced)


ENV_ALIASES = {
    "QUAERO_DB_URL": ("store", "url"),
    "QUAERO_API_TOKEN": ("server", "api_token"),
}


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from a TOML file (``path`` or ``$QUAERO_CONFIG``; ``./quaero.toml`` if it
    exists), then the environment, then ``overrides`` (``{"worker.concurrency": 8}``)."""
    env = os.environ if env is None else env
    settings = Settings()
    origin: dict[str, str] = {}  # "section.key" -> where its value came from
    _load(settings, path, env, overrides, origin)
    try:
        return settings.validate()
    except ConfigError as exc:
        # "worker.concurrency must be at least 1": say which file or variable set it
        where = origin.get(str(exc).split(" ", 1)[0])
        if where is not None:
            raise ConfigError(f"{where}: {exc}") from None
        raise


def _load(
    settings: Settings,
    path: str | Path | None,
    env: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
    origin: dict[str, str],
) -> None:
    file = path or env.get("QUAERO_CONFIG")
    if file is None and Path("quaero.toml").is_file():
        file = "quaero.toml"
    if file is not None:
        p = Path(file)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {p}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
        for section, table in data.items():
            if section == "crawler" and isinstance(table, dict):
                settings.crawler.update(table)
                continue
            if not isinstance(table, dict):
                raise ConfigError(f"{p}: [{section}] must be a table")
            for key, value in table.items():
                _apply(settings, section, key, value, str(p), origin)
    for name, (section, key) in ENV_ALIASES.items():
        if name in env:
            _apply(settings, section, key, env[name], name, origin)
    for name, value in env.items():
        if not name.startswith("QUAERO_") or name in ENV_ALIASES or name == "QUAERO_CONFIG":
            continue
        rest = name[len("QUAERO_") :].lower()
        for f in dataclasses.fields(settings):
            if rest.startswith(f.name + "_") and f.name != "crawler":
                _apply(settings, f.name, rest[len(f.name) + 1 :], value, name, origin)
                break
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        _apply(settings, section, key, value, "command line", origin)
