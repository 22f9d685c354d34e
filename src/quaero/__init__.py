"""quaero: durable hierarchical jobs with live progress."""

from .app import App
from .config import Settings, load_settings
from .errors import (
    ConfigError,
    InvalidJobSpec,
    InvalidTransition,
    JobCancelled,
    JobNotFound,
    JobStateError,
    QuaeroError,
    StoreError,
)
from .events.types import Event
from .jobs.context import JobContext
from .jobs.models import Counters, Job, JobStatus, NewJob
from .jobs.progress import overall_status, progress_text

__all__ = [
    "App",
    "ConfigError",
    "Counters",
    "Event",
    "InvalidJobSpec",
    "InvalidTransition",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobNotFound",
    "JobStateError",
    "JobStatus",
    "NewJob",
    "QuaeroError",
    "Settings",
    "StoreError",
    "load_settings",
    "overall_status",
    "progress_text",
]
__version__ = "0.1.0"
