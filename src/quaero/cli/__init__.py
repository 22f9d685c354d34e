"""The ``quaero`` command line. Each command group lives in its own module."""

from __future__ import annotations

from . import crawl as _crawl  # noqa: F401
from . import db as _db  # noqa: F401
from . import definitions as _definitions  # noqa: F401

# command modules register themselves on ``cli`` when imported
from . import jobs as _jobs  # noqa: F401
from . import jobs_operate as _jobs_operate  # noqa: F401
from . import run as _run  # noqa: F401
from . import serve as _serve  # noqa: F401
from . import worker as _worker  # noqa: F401
from . import workers as _workers  # noqa: F401
from .main import cli, main

__all__ = ["cli", "main"]
