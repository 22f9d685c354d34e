"""The integers a store can hold, checked once for every caller (API, CLI, library).

SQLite and PostgreSQL store integers as signed 64-bit (``BIGINT``); a larger Python int
fails deep inside the driver. Every id, offset, cursor or limit that comes from outside
is checked here first and refused with :class:`~quaero.errors.InvalidArgument`, a clear
sentence the web app turns into a 422 and the CLI into exit status 2.

The store also guards itself (:func:`guard_store_method`, applied by
:class:`~quaero.store.base.Store` to every backend's methods), so library callers get
the same error rather than an ``OverflowError`` from the driver.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from .errors import InvalidArgument

__all__ = [
    "ID_ARGUMENTS",
    "MAX_INT",
    "MIN_INT",
    "check_id",
    "check_int",
    "check_json_ints",
    "clean_text",
    "guard_store_method",
    "has_nul",
    "parse_id",
]

#: the largest integer a store column holds (signed 64-bit)
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)

F = TypeVar("F", bound=Callable[..., Any])


def check_int(value: int, name: str, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """``value`` if ``minimum <= value <= maximum``; InvalidArgument naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum}, got {value}")
    return value


def check_id(value: int, name: str = "job id") -> int:
    """A positive id a store can hold (1 .. 2**63-1)."""
    return check_int(value, name, 1)


def parse_id(text: str, name: str = "job id") -> int:
    """An id from text (CLI arguments, query strings, WebSocket messages)."""
    s = text.strip()
    if not s.isascii() or not s.lstrip("+").isdigit():
        raise InvalidArgument(f"{name} must be a positive integer, got {text!r}")
    if len(s) > 25:  # no need to build a huge int to refuse it
        raise InvalidArgument(f"{name} must be at most {MAX_INT}, got {s[:25]}...")
    return check_id(int(s), name)


def check_json_ints(value: Any, where: str) -> None:
    """Refuse integers outside signed 64 bits anywhere in a JSON-like value (configs,
    metadata, results): the stores keep them as JSON that other readers parse as int64."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            if not MIN_INT <= v <= MAX_INT:
                raise InvalidArgument(
                    f"{at}: integer {v} is out of range (store integers are 64-bit)"
                )
        elif isinstance(v, Mapping):
            stack.extend((x, f"{at}.{k}") for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((x, f"{at}[{i}]") for i, x in enumerate(v))


def clean_text(text: str) -> str:
    """``text`` with NUL characters replaced by U+FFFD: PostgreSQL text and JSONB cannot
    hold NUL, and what a handler reports (an error, a log line, a page's text) must
    always be storable rather than fail its commit."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def has_nul(value: Any) -> bool:
    """True if a string anywhere in a JSON-like value (keys included) holds a NUL."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, Mapping):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return False


#: store-method parameters that must hold a store integer: name -> (what, minimum)
ID_ARGUMENTS: dict[str, tuple[str, int]] = {
    "job_id": ("job id", 1),
    "document_id": ("document id", 1),
    "parent_id": ("parent id", 1),
    "root_id": ("root id", 1),
    "job_ids": ("job id", 1),
    "offset": ("offset", 0),
    "limit": ("limit", 0),
    "after_seq": ("seq", 0),
    "until_seq": ("seq", 0),
    "max_children": ("max_children", 0),
}


def _check_arg(name: str, value: Any) -> None:
    what, minimum = ID_ARGUMENTS[name]
    if value is None:
        return
    if isinstance(value, int):
        check_int(value, what, minimum)
    elif isinstance(value, Collection) and not isinstance(value, str | bytes):
        for v in value:
            if isinstance(v, int):
                check_int(v, what, minimum)


def _check_value(name: str, value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:  # no stored text holds one; PostgreSQL cannot even compare it
            raise InvalidArgument(f"{name} must not contain NUL characters")
    elif name in ID_ARGUMENTS:
        _check_arg(name, value)


def guard_store_method(fn: F) -> F:
    """Wrap a store coroutine so that its arguments are checked before the backend sees
    them (InvalidArgument, nothing read or written): integers named in
    :data:`ID_ARGUMENTS` must fit their column, strings must hold no NUL character."""
    if getattr(fn, "__quaero_guarded__", False):
        return fn
    names = list(inspect.signature(fn).parameters)

    @functools.wraps(fn)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        for name, value in zip(names, args, strict=False):
            _check_value(name, value)
        for name, value in kwargs.items():
            _check_value(name, value)
        return await fn(*args, **kwargs)

    guarded.__quaero_guarded__ = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]
