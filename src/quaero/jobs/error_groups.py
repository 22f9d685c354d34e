"""Error groups: failures grouped by a normalised key, counted on every ancestor.

A failed job gets the key of its error (stored on its row, so a listing can filter on
it with an index). Every ancestor counts its failed descendants by key in the same
transaction as the failure (O(depth)), and the counts go down when such a job is retried
in place or deleted. Reading a job's groups is O(groups).

The key is:

- for a crawl page, the failure reason the crawler puts first (``http_503: ...`` ->
  ``http_503``, ``timeout: ...`` -> ``timeout``);
- otherwise the exception class and the message with the variable parts masked: URLs
  (``<url>``), quoted values (``<str>``), hex ids and UUIDs (``<id>``) and numbers
  (``<n>``), so ``ValueError: row 17 of 'a.csv'`` and ``ValueError: row 4 of 'b.csv'``
  make one group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MAX_KEY", "SAMPLES", "ErrorDelta", "error_key"]

#: longest key kept (longer keys are cut)
MAX_KEY = 200
#: job ids kept per group as samples (the latest failures)
SAMPLES = 5

_REASON = re.compile(r"^([a-z][a-z0-9_]{1,40}):")
_CLASS = re.compile(r"^((?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Z][A-Za-z0-9_]*): ?(.*)$", re.S)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_SPACE = re.compile(r"\s+")


def _mask(text: str) -> str:
    text = _URL.sub("<url>", text)
    text = _QUOTED.sub("<str>", text)
    text = _UUID.sub("<id>", text)
    text = _HEX.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()


def error_key(error: str | None) -> str:
    """The group key of an error message (see the module docstring); ``"unknown"`` for
    an empty one."""
    text = (error or "").strip()
    if not text:
        return "unknown"
    first_line = text.splitlines()[0]
    m = _REASON.match(first_line)
    if m:
        return m.group(1)
    m = _CLASS.match(first_line)
    key = f"{m.group(1)}: {_mask(m.group(2))}".rstrip(": ") if m else _mask(first_line)
    return key[:MAX_KEY] or "unknown"


@dataclass(slots=True)
class ErrorDelta:
    """What one transaction changes in one ancestor's group: the count, the sample ids
    to add (newest last) and to drop, and the time of the latest failure."""

    count: int = 0
    add: list[int] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)
    last_seen: float | None = None
