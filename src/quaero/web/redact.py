"""Keep API tokens out of logs: every spelling of the ``token`` query parameter.

The API accepts a token from ``Authorization: Bearer <token>`` or from the one query
parameter ``token`` (the browser's WebSocket cannot set headers). Query names are
percent-decoded before the check (``?%74oken=`` *is* ``?token=``), so the redaction
decodes them the same way, and more: any name that decodes, once or several times, to
``token`` in any letter case has its value replaced by ``<redacted>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["TOKEN_QUERY_NAME", "RedactTokens", "redact_tokens"]

#: the only query parameter that carries the API token
TOKEN_QUERY_NAME = "token"

_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;?#\s\"']+)=(?P<value>[^&;#\s\"']*)")


def _is_token_name(name: str) -> bool:
    for _ in range(4):  # %2574oken -> %74oken -> token
        if name.lower() == TOKEN_QUERY_NAME:
            return True
        decoded = unquote_plus(name)
        if decoded == name:
            return False
        name = decoded
    return name.lower() == TOKEN_QUERY_NAME


def redact_tokens(text: str) -> str:
    """``text`` with the value of every token query parameter replaced by ``<redacted>``."""
    if "=" not in text:
        return text

    def sub(m: re.Match[str]) -> str:
        if _is_token_name(m["name"]):
            return f"{m['lead']}{m['name']}=<redacted>"
        return m[0]

    return _PARAM.sub(sub, text)


def _redact(value: Any) -> Any:
    return redact_tokens(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """A logging filter for the server's loggers (uvicorn's access and error logs).

    It redacts the message template and each string argument in place and keeps the
    arguments a tuple: uvicorn's access-log formatter unpacks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact(a) for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: _redact(v) for k, v in args.items()}
        return True
