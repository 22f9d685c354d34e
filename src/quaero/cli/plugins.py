"""Job types the CLI registers on every app it builds (built-ins are added by App)."""

from __future__ import annotations

import importlib
import os

from ..app import App
from ..errors import ConfigError

__all__ = ["register_plugins"]


def register_plugins(app: App) -> None:
    """Register quaero's own extra job types, then ``QUAERO_PLUGINS`` modules.

    ``QUAERO_PLUGINS=mypkg.jobs,other.mod``: each module has ``register(app)``; this is
    how ``quaero worker`` / ``quaero serve`` run users' own job types.
    """
    try:  # the crawler registers crawl and crawl_url when it is installed
        from ..crawler.jobs import register as register_crawler
    except ImportError:
        pass
    else:
        register_crawler(app)
    for name in filter(None, (m.strip() for m in os.environ.get("QUAERO_PLUGINS", "").split(","))):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"QUAERO_PLUGINS: cannot import {name!r}: {exc}") from exc
        register = getattr(module, "register", None)
        if register is None:
            raise ConfigError(f"QUAERO_PLUGINS: module {name!r} has no register(app) function")
        register(app)
