"""Job definitions: saved jobs in TOML files, started by hand or on a cron schedule.

- :mod:`.models`: :class:`JobDefinition` and the checks of one definition;
- :mod:`.cron`: schedules, fire times and the catch-up rule;
- :mod:`.loader`: a directory of ``<id>.toml`` files (per-file errors, atomic writes);
- :mod:`.catalog`: an app's definitions, checked against its job types, and their runs;
- :mod:`.scheduler`: the asyncio task that starts scheduled runs on time.
"""

from __future__ import annotations

from .catalog import Catalog, catalog_of
from .loader import LoadResult, load_dir, load_file, write_definition
from .models import DefinitionNotFound, InvalidDefinition, JobDefinition, parse_definition
from .scheduler import Scheduler

__all__ = [
    "Catalog",
    "DefinitionNotFound",
    "InvalidDefinition",
    "JobDefinition",
    "LoadResult",
    "Scheduler",
    "catalog_of",
    "load_dir",
    "load_file",
    "parse_definition",
    "write_definition",
]
